import { describe, expect, it } from "vitest";
import { EMPTY_CHAT, SseParser, allowlistDraft, applyEvent, decide, pickableModels, splitAnswer, toggleModel, type LoopEvent } from "./loop";

describe("SseParser", () => {
  it("parses events split across chunks", () => {
    const p = new SseParser();
    expect(p.push('event: text_delta\ndata: {"text": "Hel')).toEqual([]);
    expect(p.push('lo"}\n\nevent: done\ndata: {"status": "complete"}\n\nevent: text')).toEqual([
      { type: "text_delta", data: { text: "Hello" } },
      { type: "done", data: { status: "complete" } },
    ]);
    expect(p.push('_delta\r\ndata: {"text": "!"}\r\n\r\n')).toEqual([{ type: "text_delta", data: { text: "!" } }]);
  });
});

describe("applyEvent", () => {
  const run = (events: LoopEvent[]) => events.reduce(applyEvent, { ...EMPTY_CHAT, status: "streaming" as const });
  it("joins text deltas into one answer and tracks tool calls", () => {
    const chat = run([
      { type: "tool_call_start", data: { call_id: "c1", name: "run_btql", arguments: { query: "q" } } },
      { type: "tool_result", data: { call_id: "c1", name: "run_btql", ok: true, summary: "3 rows" } },
      { type: "text_delta", data: { text: "There are " } },
      { type: "text_delta", data: { text: "3." } },
      { type: "done", data: { status: "complete", usage: { total_tokens: 12 } } },
    ]);
    expect(chat.items).toEqual([
      { kind: "tool", callId: "c1", name: "run_btql", arguments: { query: "q" }, status: "ok", summary: "3 rows", rowsTouched: null },
      { kind: "assistant", text: "There are 3." },
    ]);
    expect(chat.status).toBe("complete");
    expect(chat.usage?.total_tokens).toBe(12);
  });
  it("waits for a confirmation, then shows the decision and the result", () => {
    let chat = run([
      { type: "tool_call_start", data: { call_id: "w", name: "edit_data", arguments: { insert: [1] } } },
      { type: "confirmation_required", data: { call_id: "w", name: "edit_data", arguments: { insert: [1] }, preview: { action: "insert 1 record" } } },
      { type: "done", data: { status: "awaiting_confirmation" } },
    ]);
    expect(chat.items[0]).toMatchObject({ status: "awaiting", preview: { action: "insert 1 record" } });
    expect(chat.status).toBe("awaiting_confirmation");
    chat = decide(chat, "w", true);
    expect(chat.items[0]).toMatchObject({ status: "running" });
    chat = applyEvent(chat, { type: "tool_call_start", data: { call_id: "w", name: "edit_data", arguments: { insert: [1] } } });
    expect(chat.items).toHaveLength(1);
    chat = applyEvent(chat, { type: "tool_result", data: { call_id: "w", ok: true, rows_touched: 1, summary: "inserted 1" } });
    expect(chat.items[0]).toMatchObject({ status: "ok", rowsTouched: 1 });
    expect(decide(chat, "w", false).items[0]).toMatchObject({ status: "rejected" });
  });
  it("shows errors, budget ends and choices", () => {
    const chat = run([
      { type: "error", data: { message: "rate limited", kind: "rate_limit" } },
      { type: "budget_exhausted", data: { iterations: 8 } },
      { type: "choose", data: { kind: "data_source", options: ["logs", { label: "experiment A" }] } },
    ]);
    expect(chat.items).toEqual([
      { kind: "error", message: "rate limited" },
      { kind: "budget", iterations: 8 },
      { kind: "choose", what: "data_source", options: ["logs", "experiment A"] },
    ]);
  });
});

describe("pickableModels", () => {
  it("offers concrete allowed models, and the default when a pattern serves it", () => {
    const listed = [
      { id: "gpt-4o-mini", allowed: true },
      { id: "gpt-4o", allowed: false },
      { id: "claude-*", allowed: true },
    ];
    expect(pickableModels(listed, null)).toEqual(["gpt-4o-mini"]);
    expect(pickableModels(listed, "claude-3-5-sonnet")).toEqual(["claude-3-5-sonnet", "gpt-4o-mini"]);
  });
});

describe("splitAnswer", () => {
  it("finds fenced code and says which is BTQL", () => {
    expect(splitAnswer("Try:\n```btql\nselect: id\n| from: project_logs('p')\n```\nor ```x = 1```.")).toEqual([
      { kind: "text", text: "Try:\n" },
      { kind: "code", text: "select: id\n| from: project_logs('p')", btql: true },
      { kind: "text", text: "\nor " },
      { kind: "code", text: "x = 1", btql: false },
      { kind: "text", text: "." },
    ]);
    expect(splitAnswer("plain")).toEqual([{ kind: "text", text: "plain" }]);
  });
});

describe("the model allowlist", () => {
  it("starts from the org's list, else every listed model", () => {
    expect(allowlistDraft(["a"], [{ id: "a" }, { id: "b" }])).toEqual(["a"]);
    expect(allowlistDraft([], [{ id: "a" }])).toEqual([]);
    expect(allowlistDraft(null, [{ id: "a" }, { id: "b" }])).toEqual(["a", "b"]);
  });

  it("adds a model once and removes it", () => {
    expect(toggleModel(["a"], "b", true)).toEqual(["a", "b"]);
    expect(toggleModel(["a", "b"], "b", true)).toEqual(["a", "b"]);
    expect(toggleModel(["a", "b"], "a", false)).toEqual(["b"]);
  });
});
