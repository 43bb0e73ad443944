import { describe, expect, it } from "vitest";
import { fitColumns, gridOf } from "./columns";

const cols = [
  { id: "time", size: 100 },
  { id: "input", size: 200, minSize: 120, grow: true },
  { id: "scores", size: 200, hidePriority: 2 },
  { id: "tokens", size: 80, hidePriority: 3 },
  { id: "name", size: 100, hidePriority: 1 },
];
const ids = (cs: { id: string }[]) => cs.map((c) => c.id);

describe("fitColumns", () => {
  it("keeps every column while the width is unknown or enough", () => {
    expect(ids(fitColumns(cols, null))).toEqual(["time", "input", "scores", "tokens", "name"]);
    expect(ids(fitColumns(cols, 680))).toEqual(["time", "input", "scores", "tokens", "name"]);
  });
  it("lets growing columns shrink before dropping any", () => {
    // their sizes add up to 680; with the input at its 120 they take 600
    expect(ids(fitColumns(cols, 600))).toHaveLength(5);
  });
  it("drops the highest hidePriority first, until the rest fit", () => {
    expect(ids(fitColumns(cols, 599))).toEqual(["time", "input", "scores", "name"]);
    expect(ids(fitColumns(cols, 400))).toEqual(["time", "input", "name"]);
    expect(ids(fitColumns(cols, 300))).toEqual(["time", "input"]);
  });
  it("never drops a column without a hidePriority", () => {
    expect(ids(fitColumns(cols, 10))).toEqual(["time", "input"]);
  });
});

describe("gridOf", () => {
  it("lays fixed columns at their size and growing ones from their narrowest", () => {
    expect(gridOf(cols.slice(0, 2))).toEqual({ template: "100px minmax(120px, 1fr)", minWidth: 220 });
    expect(gridOf([{ size: 90, grow: true }, {}])).toEqual({ template: "minmax(90px, 1fr) 150px", minWidth: 240 });
  });
});
