import { describe, expect, it } from "vitest";
import { tokenizeLine } from "./btqlLanguage";

describe("BTQL tokens", () => {
  it("colors clause heads, functions, keywords, strings and numbers", () => {
    expect(tokenizeLine("filter: count(x) > 5 and input ILIKE 'it''s' -- note")).toEqual([
      ["filter:", "clause"],
      ["count", "function"],
      ["(", "punctuation"],
      ["x", "variableName"],
      [")", "punctuation"],
      [">", "operator"],
      ["5", "number"],
      ["and", "keyword"],
      ["input", "variableName"],
      ["ILIKE", "keyword"],
      ["'it''s'", "string"],
      ["-- note", "comment"],
    ]);
  });
  it("knows shapes, atoms, interval units and that a field named like a clause is a name", () => {
    expect(tokenizeLine("from: project_logs('p') traces")).toContainEqual(["traces", "shape"]);
    expect(tokenizeLine("created > now() - interval 1 day")).toContainEqual(["day", "keyword"]);
    expect(tokenizeLine("x IS NOT NULL")).toContainEqual(["NULL", "atom"]);
    expect(tokenizeLine("select: metadata.limit")).toEqual([
      ["select:", "clause"],
      ["metadata", "variableName"],
      [".", "punctuation"],
      ["limit", "keyword"],
    ]);
  });
});
