import { describe, expect, it } from "vitest";
import { errorRange, offsetOf } from "./diagnostics";

const text = "select: *\n| from: project_logz('p')\n| filter: input ILIKE '%ab";

function under(line: number | null, column: number | null): string {
  const r = errorRange(text, line, column);
  return text.slice(r.from, r.to);
}

describe("errorRange", () => {
  it("maps 1-based positions to offsets", () => {
    expect(offsetOf(text, 1, 1)).toBe(0);
    expect(offsetOf(text, 2, 3)).toBe(12);
    expect(offsetOf(text, 9, 1)).toBe(text.length);
  });
  it("underlines the name at the position", () => {
    expect(under(2, 9)).toBe("project_logz");
  });
  it("underlines an unterminated string to the end of its line", () => {
    expect(under(3, 23)).toBe("'%ab");
  });
  it("underlines the last character for errors at the end", () => {
    expect(under(3, 99)).toBe("b");
    expect(errorRange("a(\n", 2, 1)).toEqual({ from: 1, to: 2 });
  });
  it("underlines the first line when there is no position", () => {
    expect(under(null, null)).toBe("select: *");
    expect(errorRange("", 1, 1)).toEqual({ from: 0, to: 0 });
  });
});
