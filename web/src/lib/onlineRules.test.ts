import { describe, expect, it } from "vitest";
import { NEW_RULE, appliesTo, filterValidationQuery, formOf, ruleBody, scorerLabel, scorerRef, spanNameList, type OnlineConfig, type ProjectScore } from "./onlineRules";

describe("online rules", () => {
  it("builds a create body with a built-in or a project scorer", () => {
    const body = ruleBody({ ...NEW_RULE, name: " json ", rate: "0.5", filter: " is_root " }, "p1");
    expect(body).toEqual({
      project_id: "p1",
      score_type: "online",
      name: "json",
      config: {
        online: {
          sampling_rate: 0.5,
          scorers: [{ type: "global", name: "ValidJSON" }],
          apply_to_root_span: true,
          apply_to_span_names: null,
          btql_filter: "is_root",
          scope: { type: "span" },
          skip_logging: false,
          daily_spend_cap_usd: null,
        },
      },
    });
    const patch = ruleBody({ ...NEW_RULE, name: "mine", scorers: ["function:f-1", "global:Levenshtein"], filter: "" });
    expect(patch).toEqual({
      name: "mine",
      config: {
        online: {
          sampling_rate: 1,
          scorers: [
            { type: "function", id: "f-1" },
            { type: "global", name: "Levenshtein" },
          ],
          apply_to_root_span: true,
          apply_to_span_names: null,
          btql_filter: null,
          scope: { type: "span" },
          skip_logging: false,
          daily_spend_cap_usd: null,
        },
      },
    });
  });

  it("sends trace scope with its idle seconds, span names, the spend cap and skip logging", () => {
    const body = ruleBody({ ...NEW_RULE, name: "t", scope: "trace", idleSeconds: "45", spanNames: "llm, retrieve,, llm ", cap: "2.5", skipLogging: true });
    expect((body.config as { online: unknown }).online).toMatchObject({
      scope: { type: "trace", idle_seconds: 45 },
      apply_to_span_names: ["llm", "retrieve"],
      daily_spend_cap_usd: 2.5,
      skip_logging: true,
    });
    expect(() => ruleBody({ ...NEW_RULE, name: "t", scope: "trace", idleSeconds: "-1" })).toThrow(/idle seconds/);
    expect(() => ruleBody({ ...NEW_RULE, name: "t", scope: "trace", idleSeconds: "" })).toThrow(/idle seconds/);
    expect(() => ruleBody({ ...NEW_RULE, name: "t", cap: "-3" })).toThrow(/spend cap/);
    expect(() => ruleBody({ ...NEW_RULE, name: "t", scorers: [] })).toThrow(/at least one/);
    expect(() => ruleBody({ ...NEW_RULE, name: "t", scorers: ["global:A", "global:A"] })).toThrow(/twice/);
    // a span-scope rule does not send idle seconds, whatever the form kept
    expect((ruleBody({ ...NEW_RULE, name: "s", idleSeconds: "x" }).config as { online: { scope: unknown } }).online.scope).toEqual({ type: "span" });
    expect(spanNameList(" a ,b, a,")).toEqual(["a", "b"]);
  });

  it("sends and reads back a group scope", () => {
    const body = ruleBody({ ...NEW_RULE, name: "g", scope: "group", idleSeconds: "60", groupBy: " metadata.session_id ", maxTraces: "8", placement: "each" });
    const online = (body.config as { online: OnlineConfig }).online;
    expect(online.scope).toEqual({ type: "group", idle_seconds: 60, group_by: "metadata.session_id", max_traces: 8, placement: "each" });
    const rule: ProjectScore = { id: "r", name: "g", score_type: "online", config: { online } };
    expect(formOf(rule)).toMatchObject({ scope: "group", idleSeconds: "60", groupBy: "metadata.session_id", maxTraces: "8", placement: "each" });
    expect(appliesTo(online)).toBe("traces grouped by metadata.session_id, 60 s quiet, score on each root");
    expect(() => ruleBody({ ...NEW_RULE, name: "g", scope: "group", groupBy: "" })).toThrow(/group by/);
    expect(() => ruleBody({ ...NEW_RULE, name: "g", scope: "group", groupBy: "metadata..x" })).toThrow(/group by/);
    expect(() => ruleBody({ ...NEW_RULE, name: "g", scope: "group", groupBy: "a.b", maxTraces: "65" })).toThrow(/max traces/);
  });

  it("checks a filter as a bare expression over the project's logs", () => {
    expect(filterValidationQuery("x = 1", "p1")).toEqual({
      select: [{ alias: "id", expr: { btql: "id" } }],
      from: { op: "function", name: { op: "ident", name: ["project_logs"] }, args: [{ op: "literal", value: "p1" }], shape: "spans" },
      filter: { btql: "x = 1" },
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
    expect(formOf(rule)).toEqual({ ...NEW_RULE, name: "tone", scorers: ["function:f-9"], rate: "0.25", filter: "x = 1", rootOnly: false });
    const full: ProjectScore = {
      id: "r2",
      name: "whole",
      score_type: "online",
      config: {
        online: {
          sampling_rate: 1,
          scorers: [{ type: "global", name: "ValidJSON" }, { type: "function", id: "f-9" }],
          scope: { type: "trace", idle_seconds: 90 },
          apply_to_span_names: ["llm"],
          daily_spend_cap_usd: 0,
          skip_logging: true,
        },
      },
    };
    expect(formOf(full)).toMatchObject({ scorers: ["global:ValidJSON", "function:f-9"], scope: "trace", idleSeconds: "90", spanNames: "llm", cap: "0", skipLogging: true });
    // the form sends back what it read: an edit that changes nothing keeps every field
    expect((ruleBody(formOf(full)).config as { online: unknown }).online).toMatchObject(full.config!.online!);
    expect(appliesTo(full.config!.online!)).toBe("whole trace, 90 s idle · cap $0/day · no scorer spans");
    expect(appliesTo({ sampling_rate: 1, scorers: [], apply_to_root_span: true, apply_to_span_names: ["llm"] })).toBe("root spans + spans named llm");
    expect(appliesTo({ sampling_rate: 1, scorers: [] })).toBe("every span");
    const fns = [{ id: "f-9", name: "Tone", slug: "tone-check" }];
    expect(scorerLabel({ type: "function", id: "f-9" }, fns)).toBe("tone-check (project scorer)");
    expect(scorerLabel({ type: "function", id: "gone" }, fns)).toBe("function gone");
    expect(scorerLabel({ type: "global", name: "Levenshtein" }, fns)).toBe("Levenshtein");
  });
});
