import { describe, expect, it } from "vitest";
import { buildTree, flatten, spanDuration, spanName, type SpanLite } from "./spanTree";

function span(id: string, parent: string | null, start: number, end = start + 1): SpanLite {
  return { id: `row-${id}`, span_id: id, span_parents: parent ? [parent] : null, start, end, name: id };
}

describe("buildTree + flatten", () => {
  it("orders depth-first, children by start time", () => {
    const tree = buildTree([span("c2", "root", 5), span("root", null, 0, 10), span("c1", "root", 1), span("g", "c1", 2)]);
    expect(flatten(tree).map((r) => [r.span.span_id, r.depth])).toEqual([
      ["root", 0],
      ["c1", 1],
      ["g", 2],
      ["c2", 1],
    ]);
    expect(tree.traceStart).toBe(0);
    expect(tree.traceEnd).toBe(10);
  });

  it("hides the descendants of collapsed spans", () => {
    const tree = buildTree([span("root", null, 0), span("c1", "root", 1), span("g", "c1", 2)]);
    const rows = flatten(tree, new Set(["c1"]));
    expect(rows.map((r) => r.span.span_id)).toEqual(["root", "c1"]);
    expect(rows[1]).toMatchObject({ collapsed: true, childCount: 1 });
  });

  it("makes orphans roots and survives cycles", () => {
    const tree = buildTree([span("a", "missing", 0), span("b", "c", 1), span("c", "b", 2)]);
    const ids = flatten(tree).map((r) => r.span.span_id);
    expect(ids[0]).toBe("a");
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("flattens a chain of 20,000 nested spans without recursion", () => {
    const spans = Array.from({ length: 20000 }, (_, i) => span(`s${i}`, i ? `s${i - 1}` : null, i));
    const rows = flatten(buildTree(spans));
    expect(rows).toHaveLength(20000);
    expect(rows[19999].depth).toBe(19999);
  });
});

describe("span helpers", () => {
  it("names and times spans", () => {
    expect(spanName({ id: "1", span_id: "abcdef123", type: "llm" })).toBe("llm");
    expect(spanName({ id: "1", span_id: "abcdef123" })).toBe("abcdef12");
    expect(spanDuration({ id: "1", span_id: "x", start: 1, end: 3.5 })).toBe(2.5);
    expect(spanDuration({ id: "1", span_id: "x", start: 1 })).toBeNull();
  });
});
