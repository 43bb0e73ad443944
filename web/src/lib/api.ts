// The HTTP client of the app: every call carries the session's credentials; every failure is an
// ApiError with the server's message (and, for BTQL, the class and position of the problem).

import type { Identity, Session } from "./session";

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

export class Api {
  constructor(
    private readonly session: Pick<Session, "headers">,
    private readonly doFetch: Fetch = (input, init) => fetch(input, init),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let resp: Response;
    try {
      resp = await this.doFetch(path, {
        method,
        credentials: "same-origin",
        headers: {
          ...this.session.headers(),
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new ApiError(0, "cannot reach the Loopline server");
    }
    const text = await resp.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!resp.ok) throw errorFromBody(resp.status, parsed);
    return parsed as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, undefined, signal);
  }

  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>("POST", path, body, signal);
  }

  btql<R = Record<string, unknown>>(query: string, signal?: AbortSignal): Promise<BtqlResponse<R>> {
    return this.post<BtqlResponse<R>>("/btql", { query, tz_offset: new Date().getTimezoneOffset() }, signal);
  }

  validateBtql(query: string, signal?: AbortSignal): Promise<BtqlValidation> {
    return this.post<BtqlValidation>("/btql/validate", { query }, signal);
  }

  async whoAmI(): Promise<Identity> {
    const me = await this.get<{ id: string; org_id: string; org_name: string | null }>("/ping");
    return { orgId: me.org_id, orgName: me.org_name ?? me.org_id, userId: me.id };
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

  experimentSummary(experimentId: string): Promise<ExperimentSummary> {
    return this.get<ExperimentSummary>(`/v1/experiment/${experimentId}/summarize?summarize_scores=true`);
  }
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
