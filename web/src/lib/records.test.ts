import { describe, expect, it } from "vitest";
import { fieldText, parseField, recordFromLog } from "./records";
import { rootSpansQuery } from "./btql";

describe("recordFromLog", () => {
  it("keeps the input, takes the output as expected, and says where it came from", () => {
    const span = { id: "s1", root_span_id: "r1", input: { q: "hi" }, output: { a: "hello" }, metadata: { intent: "x" }, tags: ["t"] };
    expect(recordFromLog(span, "p1")).toEqual({
      input: { q: "hi" },
      expected: { a: "hello" },
      metadata: { intent: "x" },
      tags: ["t"],
      origin: { object_type: "project_logs", object_id: "p1", id: "s1" },
    });
  });
  it("prefers a logged expected and leaves out empty tags", () => {
    const r = recordFromLog({ id: "s", root_span_id: "r", input: "q", output: "o", expected: "e", metadata: null, tags: [] }, "p");
    expect(r.expected).toBe("e");
    expect(r.metadata).toEqual({});
    expect("tags" in r).toBe(false);
  });
  it("reads the root spans of the chosen traces, quoted", () => {
    expect(rootSpansQuery("p", ["a", "b'c"])).toContain("filter: is_root and root_span_id IN ['a', 'b''c']");
  });
});

describe("record fields", () => {
  it("round-trips values as JSON text", () => {
    expect(fieldText("hi")).toBe('"hi"');
    expect(parseField("input", fieldText({ a: [1] }), "any")).toEqual({ ok: true, value: { a: [1] } });
    expect(parseField("input", "  ", "any")).toEqual({ ok: true, value: null });
  });
  it("names the field that is not valid", () => {
    const bad = parseField("expected", "{oops", "any");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.startsWith("expected: not valid JSON")).toBe(true);
    expect(parseField("metadata", "[1]", "object")).toEqual({ ok: false, error: "metadata: must be a JSON object or null" });
    expect(parseField("tags", '["a", 1]', "tags")).toEqual({ ok: false, error: "tags: must be a list of strings or null" });
  });
});
