import { describe, expect, it } from "vitest";
import { NEW_RULE, formOf, ruleBody, scorerLabel, scorerRef, type ProjectScore } from "./onlineRules";

describe("online rules", () => {
  it("builds a create body with a built-in or a project scorer", () => {
    const body = ruleBody({ ...NEW_RULE, name: " json ", rate: "0.5", filter: " is_root " }, "p1");
    expect(body).toEqual({
      project_id: "p1",
      score_type: "online",
      name: "json",
      config: { online: { sampling_rate: 0.5, scorers: [{ type: "global", name: "ValidJSON" }], apply_to_root_span: true, btql_filter: "is_root" } },
    });
    const patch = ruleBody({ ...NEW_RULE, name: "mine", scorer: "function:f-1", filter: "" });
    expect(patch).toEqual({
      name: "mine",
      config: { online: { sampling_rate: 1, scorers: [{ type: "function", id: "f-1" }], apply_to_root_span: true, btql_filter: null } },
    });
  });

  it("refuses a missing name, a bad rate and no scorer", () => {
    expect(() => ruleBody({ ...NEW_RULE, name: " " })).toThrow(/name/);
    expect(() => ruleBody({ ...NEW_RULE, name: "x", rate: "1.5" })).toThrow(/fraction/);
    expect(() => ruleBody({ ...NEW_RULE, name: "x", rate: "" })).toThrow(/fraction/);
    expect(() => scorerRef("function:")).toThrow(/choose/);
    expect(() => scorerRef("nope")).toThrow(/choose/);
  });

  it("reads a stored rule back into the form and labels scorers by slug", () => {
    const rule: ProjectScore = {
      id: "r",
      name: "tone",
      score_type: "online",
      config: { online: { sampling_rate: 0.25, scorers: [{ type: "function", id: "f-9" }], btql_filter: "x = 1", apply_to_root_span: false } },
    };
    expect(formOf(rule)).toEqual({ name: "tone", scorer: "function:f-9", rate: "0.25", filter: "x = 1", rootOnly: false });
    const fns = [{ id: "f-9", name: "Tone", slug: "tone-check" }];
    expect(scorerLabel({ type: "function", id: "f-9" }, fns)).toBe("tone-check (project scorer)");
    expect(scorerLabel({ type: "function", id: "gone" }, fns)).toBe("function gone");
    expect(scorerLabel({ type: "global", name: "Levenshtein" }, fns)).toBe("Levenshtein");
  });
});
