import { describe, expect, it } from "vitest";
import { formatDiff, formatDuration, formatNumber, formatRelative, formatScore, preview } from "./format";

describe("format", () => {
  it("durations", () => {
    expect(formatDuration(0.0000042)).toBe("4µs");
    expect(formatDuration(0.0042)).toBe("4.2ms");
    expect(formatDuration(0.25)).toBe("250ms");
    expect(formatDuration(3.14159)).toBe("3.14s");
    expect(formatDuration(125)).toBe("2m 5s");
    expect(formatDuration(null)).toBe("–");
  });
  it("numbers and scores", () => {
    expect(formatNumber(1234567)).toBe("1,234,567");
    expect(formatScore(0.8412)).toBe("84.1%");
    expect(formatDiff(0.4)).toBe("+40.0pp");
    expect(formatDiff(-0.06)).toBe("−6.0pp");
    expect(formatDiff(0)).toBe("");
  });
  it("relative times", () => {
    const now = Date.parse("2026-12-03T12:00:00Z");
    expect(formatRelative("2026-12-03T11:59:50Z", now)).toBe("just now");
    expect(formatRelative("2026-12-03T11:55:00Z", now)).toBe("5m ago");
    expect(formatRelative("2026-12-01T12:00:00Z", now)).toBe("2d ago");
    expect(formatRelative("2026-01-01T00:00:00Z", now)).toBe("2026-01-01");
  });
  it("previews", () => {
    expect(preview({ question: "What  is\nthis?" })).toBe("What is this?");
    expect(preview({ a: 1, b: 2 })).toBe('{"a":1,"b":2}');
    expect(preview("x".repeat(300), 10)).toBe("xxxxxxxxx…");
    expect(preview(null)).toBe("");
  });
});
