// The HTTP client of the app: every call carries the session's credentials; every failure is an
// ApiError with the server's message (and, for BTQL, the class and position of the problem).

import type { Me, Role, Session } from "./session";
import type { ChartSpec, Granularity, Row, View } from "./charts";
import { SseParser, type LoopEvent, type PageContext } from "./loop";

export interface ErrorPosition {
  line: number;
  column: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorClass?: string,
    readonly position?: ErrorPosition,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The error a response body describes: `{"error": {"message", "class"?, "line"?, "column"?}}`. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const err = (body as { error?: Record<string, unknown> } | null)?.error;
  if (err && typeof err === "object") {
    const message = typeof err.message === "string" ? err.message : `HTTP ${status}`;
    const cls = typeof err.class === "string" ? err.class : undefined;
    const position =
      typeof err.line === "number" && typeof err.column === "number"
        ? { line: err.line, column: err.column }
        : undefined;
    return new ApiError(status, message, cls, position);
  }
  const message = (body as { Message?: unknown } | null)?.Message;
  return new ApiError(status, typeof message === "string" ? message : `HTTP ${status}`);
}

export type Fetch = typeof fetch;

/** A response body as JSON (null when it is empty or not JSON). */
async function jsonOf(resp: Response): Promise<unknown> {
  const text = await resp.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export class Api {
  constructor(
    private readonly session: Pick<Session, "headers">,
    private readonly doFetch: Fetch = (input, init) => fetch(input, init),
  ) {}

  /** The response to a request with the session's credentials (a network failure: an ApiError). */
  private async send(method: string, path: string, body: unknown, signal: AbortSignal | undefined, extra: Record<string, string> = {}): Promise<Response> {
    try {
      return await this.doFetch(path, {
        method,
        credentials: "same-origin",
        headers: {
          ...this.session.headers(),
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
          ...extra,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new ApiError(0, "cannot reach the Loopline server");
    }
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const resp = await this.send(method, path, body, signal);
    const parsed = await jsonOf(resp);
    if (!resp.ok) throw errorFromBody(resp.status, parsed);
    return parsed as T;
  }

  /** POST a JSON body and hand each server-sent event of the answer to `onEvent` as it arrives. */
  async stream(path: string, body: unknown, onEvent: (e: LoopEvent) => void, signal?: AbortSignal): Promise<void> {
    const resp = await this.send("POST", path, body, signal, { Accept: "text/event-stream" });
    if (!resp.ok || !resp.body) throw errorFromBody(resp.status, await jsonOf(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const e of parser.push(decoder.decode(value, { stream: true }))) onEvent(e);
    }
  }

  loopModels(): Promise<LoopModels> {
    return this.get<LoopModels>("/v1/loop/models");
  }

  createConversation(body: { model?: string; title?: string; auto_accept?: boolean }): Promise<Conversation> {
    return this.post<Conversation>("/v1/loop/conversations", body);
  }

  changeConversation(id: string, body: { model?: string; auto_accept?: boolean }): Promise<Conversation> {
    return this.patch<Conversation>(`/v1/loop/conversations/${encodeURIComponent(id)}`, body);
  }

  sendMessage(id: string, content: string, page: PageContext, onEvent: (e: LoopEvent) => void, signal?: AbortSignal): Promise<void> {
    return this.stream(`/v1/loop/conversations/${encodeURIComponent(id)}/messages`, { content, page }, onEvent, signal);
  }

  confirmCall(id: string, callId: string, approve: boolean, page: PageContext, onEvent: (e: LoopEvent) => void): Promise<void> {
    return this.stream(`/v1/loop/conversations/${encodeURIComponent(id)}/confirm`, { call_id: callId, approve, page }, onEvent);
  }

  continueTurn(id: string, page: PageContext, onEvent: (e: LoopEvent) => void): Promise<void> {
    return this.stream(`/v1/loop/conversations/${encodeURIComponent(id)}/continue`, { page }, onEvent);
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, undefined, signal);
  }

  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>("POST", path, body, signal);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>("PATCH", path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  btql<R = Record<string, unknown>>(query: string, signal?: AbortSignal, version?: string | null): Promise<BtqlResponse<R>> {
    const body = { query, tz_offset: new Date().getTimezoneOffset(), ...(version ? { version } : {}) };
    return this.post<BtqlResponse<R>>("/btql", body, signal);
  }

  /** `query`: BTQL text, or a JSON query (whose `{btql}` snippets give positions within them). */
  validateBtql(query: string | Record<string, unknown>, signal?: AbortSignal): Promise<BtqlValidation> {
    return this.post<BtqlValidation>("/btql/validate", { query }, signal);
  }

  /** Who the credentials are: user (or service key), org, role, and a cookie session's CSRF token. */
  me(): Promise<Me> {
    return this.get<Me>("/api/me");
  }

  login(email: string, password: string): Promise<Me> {
    return this.post<Me>("/api/login", { email, password });
  }

  acceptInvitation(body: { token: string; email: string; password: string; name?: string }): Promise<Me> {
    return this.post<Me>("/api/invitation/accept", body);
  }

  logout(): Promise<unknown> {
    return this.post("/api/logout", {});
  }

  async dashboards(projectId: string): Promise<Dashboard[]> {
    return (await this.get<{ objects: Dashboard[] }>(`/dashboards?project_id=${encodeURIComponent(projectId)}`)).objects;
  }

  dashboard(id: string, projectId: string): Promise<Dashboard> {
    return this.get<Dashboard>(`/dashboards/${encodeURIComponent(id)}?project_id=${encodeURIComponent(projectId)}`);
  }

  createDashboard(d: DashboardIn): Promise<Dashboard> {
    return this.post<Dashboard>("/dashboards", d);
  }

  replaceDashboard(id: string, d: DashboardIn): Promise<Dashboard> {
    return this.put<Dashboard>(`/dashboards/${encodeURIComponent(id)}`, d);
  }

  deleteDashboard(id: string): Promise<unknown> {
    return this.delete(`/dashboards/${encodeURIComponent(id)}`);
  }

  addChart(id: string, chart: Chart): Promise<Dashboard> {
    return this.post<Dashboard>(`/dashboards/${encodeURIComponent(id)}/charts`, chart);
  }

  replaceChart(id: string, chart: Chart): Promise<Dashboard> {
    return this.put<Dashboard>(`/dashboards/${encodeURIComponent(id)}/charts/${encodeURIComponent(chart.id)}`, chart);
  }

  deleteChart(id: string, chartId: string): Promise<Dashboard> {
    return this.delete<Dashboard>(`/dashboards/${encodeURIComponent(id)}/charts/${encodeURIComponent(chartId)}`);
  }

  dashboardData(id: string, projectId: string, view: Partial<View> | null, signal?: AbortSignal): Promise<DashboardData> {
    return this.post<DashboardData>(`/dashboards/${encodeURIComponent(id)}/data`, { project_id: projectId, ...(view ? { view } : {}) }, signal);
  }

  async chartQuery(id: string, chartId: string, projectId: string, view: Partial<View> | null): Promise<string> {
    const r = await this.post<{ query: string }>(`/dashboards/${encodeURIComponent(id)}/charts/${encodeURIComponent(chartId)}/btql`, {
      project_id: projectId,
      ...(view ? { view } : {}),
    });
    return r.query;
  }

  createDataset(projectId: string, name: string): Promise<Dataset> {
    return this.post<Dataset>("/v1/dataset", { project_id: projectId, name });
  }

  /** Insert, replace (same id) or delete (`_object_delete: true`) dataset records. */
  insertRecords(datasetId: string, events: Record<string, unknown>[]): Promise<{ row_ids: string[] }> {
    return this.post<{ row_ids: string[] }>(`/v1/dataset/${encodeURIComponent(datasetId)}/insert`, { events });
  }

  async datasetVersions(datasetId: string): Promise<DatasetVersion[]> {
    return (await this.get<{ versions: DatasetVersion[] }>(`/v1/dataset/${encodeURIComponent(datasetId)}/versions`)).versions;
  }

  /** Write the dataset as it was at `version` back as a new version (edited records as they were,
   * records added since deleted); `head` is the latest version the caller saw (409 if it moved). */
  restoreDataset(datasetId: string, version: string, head?: string | null): Promise<DatasetRestore> {
    return this.post<DatasetRestore>(`/v1/dataset/${encodeURIComponent(datasetId)}/restore`, { version, ...(head ? { head } : {}) });
  }

  loopSettings(): Promise<{ allowed_models: string[] | null }> {
    return this.get<{ allowed_models: string[] | null }>("/v1/loop/settings");
  }

  /** The org's Loop allowlist (admins); null clears it (every model the org can call). */
  setLoopAllowlist(models: string[] | null): Promise<{ allowed_models: string[] | null }> {
    return this.put<{ allowed_models: string[] | null }>("/v1/loop/settings", { allowed_models: models });
  }

  async proxyModels(): Promise<string[]> {
    return (await this.get<{ data: { id: string }[] }>("/v1/proxy/models")).data.map((m) => m.id);
  }

  /** Run a server-side eval (`/v1/eval`, streamed): progress events, then the summary. */
  runEval(body: Record<string, unknown>, onEvent: (e: LoopEvent) => void, signal?: AbortSignal): Promise<void> {
    return this.stream("/v1/eval", { ...body, stream: true }, onEvent, signal);
  }

  async users(): Promise<User[]> {
    return (await this.get<{ objects: User[] }>("/v1/user")).objects;
  }

  async invitations(): Promise<Invitation[]> {
    return (await this.get<{ objects: Invitation[] }>("/v1/invitation")).objects;
  }

  invite(role: Role, email?: string): Promise<Invitation> {
    return this.post<Invitation>("/v1/invitation", email ? { role, email } : { role });
  }

  setRole(userId: string, role: Role): Promise<User> {
    return this.patch<User>(`/v1/user/${encodeURIComponent(userId)}`, { role });
  }

  removeUser(userId: string): Promise<User> {
    return this.delete<User>(`/v1/user/${encodeURIComponent(userId)}`);
  }

  async projects(): Promise<Project[]> {
    return (await this.get<{ objects: Project[] }>("/v1/project?limit=1000")).objects;
  }

  async projectByName(name: string): Promise<Project | null> {
    const r = await this.get<{ objects: Project[] }>(`/v1/project?project_name=${encodeURIComponent(name)}`);
    return r.objects[0] ?? null;
  }

  async experiments(projectId: string): Promise<Experiment[]> {
    return (await this.get<{ objects: Experiment[] }>(`/v1/experiment?project_id=${projectId}&limit=1000`)).objects;
  }

  async datasets(projectId: string): Promise<Dataset[]> {
    return (await this.get<{ objects: Dataset[] }>(`/v1/dataset?project_id=${projectId}&limit=1000`)).objects;
  }

  experimentSummary(experimentId: string, comparisonId?: string | null): Promise<ExperimentSummary> {
    const cmp = comparisonId ? `&comparison_experiment_id=${encodeURIComponent(comparisonId)}` : "";
    return this.get<ExperimentSummary>(`/v1/experiment/${experimentId}/summarize?summarize_scores=true${cmp}`);
  }
}

export interface Chart {
  id: string;
  title: string;
  query: string;
  spec: ChartSpec;
  description?: string;
}

export interface DashboardIn {
  project_id: string;
  name: string;
  description?: string;
  charts: Chart[];
  view?: { range?: string | null; start?: string | null; end?: string | null; granularity?: Granularity | null; filters?: string[] };
}

export interface Dashboard extends DashboardIn {
  id: string;
  builtin: boolean;
  created?: string;
  updated?: string;
}

export interface ChartData {
  id: string;
  title: string;
  spec: ChartSpec;
  btql: string;
  data?: Row[];
  error?: { class?: string; message: string; line?: number | null; column?: number | null };
  // hints that come with the data (e.g. a key that is no field, read as an extra top-level key)
  warnings?: ChartWarning[];
}

export interface ChartWarning {
  code?: string;
  message: string;
  stage?: string;
  severity?: string;
}

export interface DashboardData {
  id: string;
  view: { range: string | null; start: string | null; end: string | null; granularity: Granularity | null; filters: string[] };
  charts: ChartData[];
}

export interface LoopModels {
  allowed_models: string[] | null;
  default_model: string | null;
  /** `provider`: the AI secret (or configured provider) serving the model, by name;
   * `provider_type`: its kind (openai, anthropic, azure, together, ...) */
  models: { id: string; source: string; provider: string; provider_type?: string | null; allowed: boolean }[];
  problem?: string;
}

export interface Conversation {
  id: string;
  title: string;
  model: string;
  auto_accept: boolean;
  created: string;
  updated: string;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  created: string;
}

export interface Invitation {
  id: string;
  email: string | null;
  role: Role;
  expires: string;
  /** only in the answer that created it: shown once */
  token?: string;
  url?: string;
}

export interface BtqlResponse<R> {
  data: R[];
  cursor?: string;
  schema?: unknown;
}

export type BtqlValidation =
  | { valid: true; columns: string[]; source: { object_type: string; object_ids: string[]; shape: string } }
  | { valid: false; error: { class: string; message: string; line: number | null; column: number | null; expected?: string[] } };

export interface Project {
  id: string;
  name: string;
  created: string;
  description: string | null;
}

export interface Experiment {
  id: string;
  name: string;
  project_id: string;
  created: string;
  description: string | null;
  base_exp_id?: string | null;
  dataset_id?: string | null;
  metadata?: Record<string, unknown> | null;
  tags?: string[] | null;
}

export interface Dataset {
  id: string;
  name: string;
  project_id: string;
  created: string;
  description: string | null;
}

export interface DatasetVersion {
  version: string;
  created: string;
  rows: number;
  deleted: number;
}

export interface DatasetRestore {
  version: string;
  /** the new version; null when the dataset already was as of `version` */
  xact_id: string | null;
  written: number;
  deleted: number;
}

export interface ScoreSummary {
  name: string;
  score: number;
  diff?: number | null;
  improvements: number;
  regressions: number;
}

export interface ExperimentSummary {
  project_name: string;
  experiment_name: string;
  comparison_experiment_name: string | null;
  scores: Record<string, ScoreSummary>;
  metrics: Record<string, { name: string; metric: number; unit: string; diff?: number | null }>;
}
