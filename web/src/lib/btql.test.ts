import { describe, expect, it } from "vitest";
import { NO_FILTERS, filterExpression, quote, spanQuery, traceSpansQuery, tracesQuery } from "./btql";

describe("quote", () => {
  it("doubles embedded quotes", () => {
    expect(quote("O'Brien")).toBe("'O''Brien'");
    expect(quote("")).toBe("''");
  });
});

describe("filterExpression", () => {
  it("is empty without filters", () => {
    expect(filterExpression(NO_FILTERS)).toBe("");
  });
  it("joins every part, the user's expression parenthesised", () => {
    expect(
      filterExpression({ search: " refund's ", expression: "a = 1 or b = 2", errorsOnly: true, range: "24h" }),
    ).toBe("created > now() - interval 1 day and search('refund''s') and error IS NOT NULL and (a = 1 or b = 2)");
  });
});

describe("queries", () => {
  const src = { kind: "project_logs", id: "p-1" } as const;
  it("lists traces newest first with a cursor", () => {
    const q = tracesQuery(src, { ...NO_FILTERS, errorsOnly: true }, 50, "abc'd");
    expect(q).toBe(
      "select: *\n| from: project_logs('p-1') summary\n| filter: error IS NOT NULL\n| sort: created desc\n| limit: 50\n| cursor: 'abc''d'",
    );
  });
  it("reads the spans of one trace and one whole span", () => {
    expect(traceSpansQuery({ kind: "experiment", id: "e" }, "r'1")).toContain("filter: root_span_id = 'r''1'");
    expect(traceSpansQuery({ kind: "experiment", id: "e" }, "r")).toContain("sort: created asc");
    expect(spanQuery(src, "x")).toContain("preview_length: -1");
  });
});
