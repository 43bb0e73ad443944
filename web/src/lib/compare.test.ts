import { describe, expect, it } from "vitest";
import { compareRows, diffText, filterCompared, inputKey } from "./compare";

const row = (id: string, input: unknown, output: unknown, scores: Record<string, number | null>) => ({ root_span_id: id, input, output, scores });

describe("compareRows", () => {
  const base = [row("b1", { q: 1, a: 2 }, "word0", { exact: 1, lev: 1 }), row("b2", "word2", "word2x", { exact: 0, lev: 0.8 }), row("b4", "word4", "word4x", { exact: 0, lev: 0.8 })];
  const cur = [
    row("c1", { a: 2, q: 1 }, "word0", { exact: 1, lev: 1 }),
    row("c2", "word2", "word2", { exact: 1, lev: 1 }),
    row("c4", "word4", "nope", { exact: 0, lev: 0.2 }),
    row("c9", "word9", "x", { exact: 0 }),
  ];
  const out = compareRows(cur, base);
  it("matches rows by input, whatever the key order", () => {
    expect(out.map((r) => r.base?.root_span_id ?? null)).toEqual(["b1", "b2", "b4", null]);
    expect(inputKey({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });
  it("says how each row's scores moved", () => {
    expect(out.map((r) => r.status)).toEqual(["unchanged", "improved", "regressed", "new"]);
    expect(out[2].scores).toEqual([
      { name: "exact", value: 0, base: 0, delta: 0 },
      { name: "lev", value: 0.2, base: 0.8, delta: expect.closeTo(-0.6) },
    ]);
    expect(out.map((r) => r.outputChanged)).toEqual([false, true, true, false]);
  });
  it("filters regressions, improvements (optionally of one score) and changed outputs", () => {
    expect(filterCompared(out, "regressed").map((r) => r.row.root_span_id)).toEqual(["c4"]);
    expect(filterCompared(out, "improved", "exact").map((r) => r.row.root_span_id)).toEqual(["c2"]);
    expect(filterCompared(out, "regressed", "exact")).toEqual([]);
    expect(filterCompared(out, "changed").map((r) => r.row.root_span_id)).toEqual(["c2", "c4"]);
    expect(filterCompared(out, "all")).toHaveLength(4);
  });
  it("diffs JSON values as indented text with sorted keys", () => {
    expect(diffText({ b: 1, a: "x" })).toBe('{\n  "a": "x",\n  "b": 1\n}');
    expect(diffText(null)).toBe("");
  });
});
