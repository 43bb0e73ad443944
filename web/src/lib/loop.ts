// Loop conversations on the client: the SSE events a turn streams, parsed as they arrive, and the
// chat they build (messages, tool-call cards, confirmations, errors).

export interface LoopEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Splits an SSE byte stream (as decoded text chunks) into events; keeps a partial block. */
export class SseParser {
  private buffer = "";

  push(chunk: string): LoopEvent[] {
    this.buffer += chunk.replace(/\r\n/g, "\n");
    const out: LoopEvent[] = [];
    let end: number;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let type = "";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trimStart();
      }
      if (!type) continue;
      let parsed: Record<string, unknown> = {};
      try {
        parsed = data ? (JSON.parse(data) as Record<string, unknown>) : {};
      } catch {
        parsed = { message: data };
      }
      out.push({ type, data: parsed });
    }
    return out;
  }
}

/** Where the user is, sent with each message (the loop agent's `page`). */
export interface PageContext {
  kind: "none" | "project_logs" | "experiment" | "dataset" | "btql" | "playground" | "prompt";
  project_id?: string | null;
  object_id?: string | null;
  query?: string | null;
  error?: string | null;
}

export type ToolStatus = "running" | "ok" | "failed" | "awaiting" | "rejected";

export type ChatItem =
  | { kind: "user"; text: string }
  | { kind: "assistant"; text: string }
  | {
      kind: "tool";
      callId: string;
      name: string;
      arguments: unknown;
      status: ToolStatus;
      summary?: string;
      rowsTouched?: number | null;
      preview?: Record<string, unknown>;
    }
  | { kind: "error"; message: string }
  | { kind: "budget"; iterations: number }
  | { kind: "choose"; what: string; options: string[] };

export interface Chat {
  items: ChatItem[];
  /** the last turn's `done` status, or "streaming" while one runs */
  status: "idle" | "streaming" | "complete" | "awaiting_confirmation" | "budget_exhausted" | "error";
  usage?: { total_tokens?: number; cost_usd?: number | null };
}

export const EMPTY_CHAT: Chat = { items: [], status: "idle" };

function str(v: unknown): string {
  return typeof v === "string" ? v : v == null ? "" : JSON.stringify(v);
}

function updateTool(items: ChatItem[], callId: string, change: (t: Extract<ChatItem, { kind: "tool" }>) => ChatItem): ChatItem[] | null {
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i];
    if (it.kind === "tool" && it.callId === callId) return [...items.slice(0, i), change(it), ...items.slice(i + 1)];
  }
  return null;
}

/** The chat after one more event of a turn. */
export function applyEvent(chat: Chat, e: LoopEvent): Chat {
  const items = chat.items;
  const d = e.data;
  switch (e.type) {
    case "text_delta": {
      const last = items[items.length - 1];
      const text = str(d.text);
      if (last?.kind === "assistant") return { ...chat, items: [...items.slice(0, -1), { kind: "assistant", text: last.text + text }] };
      return { ...chat, items: [...items, { kind: "assistant", text }] };
    }
    case "tool_call_start": {
      // a confirmed call starts again under its id: the same card runs
      const again = updateTool(items, str(d.call_id), (t) => ({ ...t, status: "running" }));
      return { ...chat, items: again ?? [...items, { kind: "tool", callId: str(d.call_id), name: str(d.name), arguments: d.arguments, status: "running" }] };
    }
    case "tool_result": {
      const done = (t: Extract<ChatItem, { kind: "tool" }>): ChatItem => ({
        ...t,
        status: t.status === "rejected" ? "rejected" : d.ok === false ? "failed" : "ok",
        summary: str(d.summary ?? d.outcome),
        rowsTouched: typeof d.rows_touched === "number" ? d.rows_touched : null,
      });
      const next = updateTool(items, str(d.call_id), done);
      const fresh: Extract<ChatItem, { kind: "tool" }> = { kind: "tool", callId: str(d.call_id), name: str(d.name), arguments: null, status: "running" };
      return { ...chat, items: next ?? [...items, done(fresh)] };
    }
    case "confirmation_required": {
      const ask = (t: Extract<ChatItem, { kind: "tool" }>): ChatItem => ({
        ...t,
        arguments: d.arguments ?? t.arguments,
        status: "awaiting",
        preview: (d.preview as Record<string, unknown>) ?? {},
      });
      const next = updateTool(items, str(d.call_id), ask);
      const fresh: Extract<ChatItem, { kind: "tool" }> = { kind: "tool", callId: str(d.call_id), name: str(d.name), arguments: d.arguments, status: "awaiting" };
      return { ...chat, items: next ?? [...items, ask(fresh)] };
    }
    case "error":
      return { ...chat, items: [...items, { kind: "error", message: str(d.message) || "the model failed" }] };
    case "budget_exhausted":
      return { ...chat, items: [...items, { kind: "budget", iterations: Number(d.iterations) || 0 }] };
    case "choose":
      return {
        ...chat,
        items: [...items, { kind: "choose", what: str(d.kind), options: Array.isArray(d.options) ? d.options.map((o) => (typeof o === "string" ? o : str((o as Record<string, unknown>)?.label ?? (o as Record<string, unknown>)?.name ?? o))) : [] }],
      };
    case "done":
      return { ...chat, status: (str(d.status) as Chat["status"]) || "complete", usage: (d.usage as Chat["usage"]) ?? chat.usage };
    default:
      return chat;
  }
}

/** The chat after the user decided on a confirmation (before the server's answer streams). */
export function decide(chat: Chat, callId: string, approve: boolean): Chat {
  const next = updateTool(chat.items, callId, (t) => ({ ...t, status: approve ? "running" : "rejected" }));
  return { ...chat, items: next ?? chat.items, status: "streaming" };
}

/** Models a conversation can use: concrete ids the org's allowlist lets Loop use (not patterns). */
export function pickableModels(listed: { id: string; allowed: boolean }[], defaultModel: string | null): string[] {
  const ids = listed.filter((m) => m.allowed && !m.id.endsWith("*")).map((m) => m.id);
  if (defaultModel && !ids.includes(defaultModel) && listed.some((m) => m.allowed && m.id.endsWith("*") && defaultModel.startsWith(m.id.slice(0, -1)))) ids.unshift(defaultModel);
  return [...new Set(ids)];
}

export type TextPart = { kind: "text"; text: string } | { kind: "code"; text: string; btql: boolean };

const BTQL_CLAUSE = /(^|\n|\|)\s*(select|from|dimensions|measures|filter|sort|limit):/i;

/** An answer's text split around its fenced code blocks; BTQL blocks can open in the sandbox. */
export function splitAnswer(text: string): TextPart[] {
  const out: TextPart[] = [];
  const fence = /```([a-zA-Z0-9_-]*\n)?([\s\S]*?)```/g;
  let at = 0;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    if (m.index > at) out.push({ kind: "text", text: text.slice(at, m.index) });
    const code = m[2].replace(/\n$/, "");
    out.push({ kind: "code", text: code, btql: BTQL_CLAUSE.test(code) });
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push({ kind: "text", text: text.slice(at) });
  return out;
}

/** The allowlist as the settings page edits it: the org's list, else (no list) every listed model. */
export function allowlistDraft(allowed: string[] | null, listed: { id: string }[]): string[] {
  return allowed ?? listed.map((m) => m.id);
}

/** A model added to (once) or removed from an allowlist. */
export function toggleModel(list: string[], id: string, on: boolean): string[] {
  return on ? (list.includes(id) ? list : [...list, id]) : list.filter((x) => x !== id);
}
