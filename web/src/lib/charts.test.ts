import { describe, expect, it } from "vitest";
import { formatTick, formatValue, pivot, seriesOf, validationText, viewFromParams, viewToParams } from "./charts";

describe("pivot", () => {
  it("draws the spec's series per x value", () => {
    const rows = [
      { name: "retrieve", calls: 3, errors: 1 },
      { name: "chat-turn", calls: 3, errors: 0 },
    ];
    expect(pivot({ x: "name", series: ["calls", "errors"] }, rows)).toEqual({
      data: [
        { x: "retrieve", calls: 3, errors: 1 },
        { x: "chat-turn", calls: 3, errors: 0 },
      ],
      series: ["calls", "errors"],
    });
  });
  it("leaves numeric outputs that are not drawn out of the chart", () => {
    expect(pivot({ x: "name", series: ["calls"] }, [{ name: "a", calls: 3, errors: 1 }])).toEqual({ data: [{ x: "a", calls: 3 }], series: ["calls"] });
  });
  it("splits an extra dimension into one series per value", () => {
    const rows = [
      { time: "2026-12-01T00:00:00Z", kind: "rate_limit", errors: 2 },
      { time: "2026-12-01T00:00:00Z", kind: "quota", errors: 1 },
      { time: "2026-12-01T01:00:00Z", kind: "quota", errors: 4 },
    ];
    const p = pivot({ x: "time", series: ["errors"] }, rows);
    expect(p.series).toEqual(["rate_limit", "quota"]);
    expect(p.data).toEqual([
      { x: "2026-12-01T00:00:00Z", rate_limit: 2, quota: 1 },
      { x: "2026-12-01T01:00:00Z", quota: 4 },
    ]);
  });
  it("names split series by value and measure when there are several measures", () => {
    const rows = [{ time: "t", model: "gpt-4o", prompt_tokens: 5, completion_tokens: 2 }];
    expect(pivot({ x: "time", series: ["prompt_tokens", "completion_tokens"] }, rows).series).toEqual([
      "gpt-4o · prompt_tokens",
      "gpt-4o · completion_tokens",
    ]);
  });
  it("without series draws every numeric output", () => {
    expect(seriesOf({ x: "name", series: [] }, [{ name: "a", n: 1, label: "x", rate: null }, { name: "b", rate: 0.5 }])).toEqual(["n", "rate"]);
  });
});

describe("formatting", () => {
  it("formats values by unit", () => {
    expect(formatValue(0.3333, "ratio")).toBe("33.3%");
    expect(formatValue(0.25, "s")).toBe("250ms");
    expect(formatValue(0.0004, "s")).toBe("400µs");
    expect(formatValue(2.5, "s")).toBe("2.50s");
    expect(formatValue(1234, "count")).toBe("1,234");
    expect(formatValue(null, "count")).toBe("–");
  });
  it("formats time ticks by granularity and leaves other values", () => {
    expect(formatTick("2026-12-01T00:00:00Z", "month")).toBe("2026-12");
    expect(formatTick("retrieve", "hour")).toBe("retrieve");
    expect(formatTick(null)).toBe("(none)");
  });
});

describe("chart queries and views", () => {
  it("validates a chart query with a from: appended after it", () => {
    expect(validationText("measures: count(1) AS n", "p'1")).toBe("measures: count(1) AS n\n| from: project_logs('p''1')");
  });
  it("keeps the view in the URL", () => {
    const p = viewToParams({ range: "24h", granularity: "hour", filters: ["a = 1", "b = 2"] }, new URLSearchParams("x=1"));
    expect(p.toString()).toBe("x=1&range=24h&g=hour&f=a+%3D+1&f=b+%3D+2");
    expect(viewFromParams(p)).toEqual({ range: "24h", granularity: "hour", filters: ["a = 1", "b = 2"] });
    expect(viewFromParams(new URLSearchParams())).toBeNull();
  });
});
