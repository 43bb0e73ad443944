import { describe, expect, it } from "vitest";
import { chosenFacet, examplesFromText, formatShareChange, labelsForSave, recentSpansQuery, requestText, spanLabel, trendQuery } from "./intents";

describe("intents", () => {
  it("reads examples one per line", () => {
    expect(examplesFromText(" I want a refund \n\n money back\n")).toEqual(["I want a refund", "money back"]);
  });

  it("saves labels trimmed, unnamed rows dropped, duplicates refused", () => {
    expect(
      labelsForSave([
        { name: " refund ", description: " money ", examples: [" a ", ""] },
        { name: "  ", description: "draft", examples: [] },
      ]),
    ).toEqual([{ name: "refund", description: "money", examples: ["a"] }]);
    expect(() =>
      labelsForSave([
        { name: "Refund", description: "", examples: [] },
        { name: "refund", description: "", examples: [] },
      ]),
    ).toThrow("label “refund” appears twice");
  });

  it("reads a span's label in the Topics shape", () => {
    const c = { Intent: [{ id: "refund", label: "refund", confidence: 0.93, source: { type: "model", id: "c", version: "1" } }] };
    expect(spanLabel(c, "Intent")).toEqual({ label: "refund", confidence: 0.93, source: "model" });
    expect(spanLabel(c, "Tone")).toEqual({ label: null, confidence: null, source: null });
    expect(spanLabel(null, "Intent").label).toBeNull();
    expect(spanLabel({ Intent: { label: "x" } }, "Intent").label).toBe("x");
  });

  it("queries recent root spans of the project, quoted", () => {
    const q = recentSpansQuery("p'1", 5);
    expect(q).toContain("from: project_logs('p''1')");
    expect(q).toContain("filter: is_root");
    expect(q).toContain("limit: 5");
  });

  it("shows what the user asked", () => {
    expect(requestText([{ role: "system", content: "be brief" }, { role: "user", content: "refund please" }])).toBe("refund please");
    expect(requestText("plain")).toBe("plain");
    expect(requestText({ q: 1 })).toBe('{"q":1}');
    expect(requestText(null)).toBe("");
  });

  it("formats share changes as percentage points", () => {
    expect(formatShareChange(0.04)).toBe("+4.0 pp");
    expect(formatShareChange(-0.025)).toBe("−2.5 pp");
    expect(formatShareChange(0)).toBe("±0.0 pp");
    expect(formatShareChange(null)).toBe("—");
  });

  it("charts a facet's trend per day and label, and refuses a facet that is not a field name", () => {
    const q = trendQuery("p'1", "Sentiment", 14);
    expect(q).toContain("dimensions: day(created) as day, classifications.Sentiment[0].label as label");
    expect(q).toContain("from: project_logs('p''1')");
    expect(q).toContain("created > now() - interval 14 day");
    expect(() => trendQuery("p", "Intent label")).toThrow(/field name/);
  });

  it("picks the facet in the URL, else Intent, else the first", () => {
    const cs = [{ facet: "Sentiment" }, { facet: "Intent" }, { facet: "Topic" }];
    expect(chosenFacet(cs, "Topic")?.facet).toBe("Topic");
    expect(chosenFacet(cs, "nope")?.facet).toBe("Intent");
    expect(chosenFacet(cs, null)?.facet).toBe("Intent");
    expect(chosenFacet([{ facet: "Topic" }], null)?.facet).toBe("Topic");
    expect(chosenFacet([], "x")).toBeUndefined();
  });
});
