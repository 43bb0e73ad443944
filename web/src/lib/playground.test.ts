import { describe, expect, it } from "vitest";
import { DraftError, draftOf, evalBody, experimentStamp, messageLabels, mustacheVars, promptBody, resultRows, slugOf, type PromptDraft } from "./playground";

const draft: PromptDraft = {
  name: "Answer sums",
  slug: "",
  model: "gpt-4o-mini",
  messages: [
    { role: "system", content: "Answer with a number." },
    { role: "user", content: "{{input.question}} {{#metadata}}{{metadata.hint}}{{/metadata}}" },
    { role: "user", content: "  " },
  ],
  params: '{"temperature": 0}',
};

describe("playground drafts", () => {
  it("reads a stored chat prompt, content parts joined", () => {
    const d = draftOf({
      id: "p1",
      name: "P",
      slug: "p",
      prompt_data: {
        prompt: { type: "chat", messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }] },
        options: { model: "m", params: { max_tokens: 5 } },
      },
    });
    expect(d.messages).toEqual([{ role: "user", content: "ab" }]);
    expect(d.model).toBe("m");
    expect(JSON.parse(d.params)).toEqual({ max_tokens: 5 });
  });

  it("writes PUT /v1/prompt's body without blank messages, slug derived", () => {
    expect(promptBody(draft, "proj")).toEqual({
      project_id: "proj",
      name: "Answer sums",
      slug: "answer-sums",
      prompt_data: {
        prompt: {
          type: "chat",
          messages: [
            { role: "system", content: "Answer with a number." },
            { role: "user", content: "{{input.question}} {{#metadata}}{{metadata.hint}}{{/metadata}}" },
          ],
        },
        options: { model: "gpt-4o-mini", params: { temperature: 0 } },
      },
    });
  });

  it("names what is wrong with a draft", () => {
    expect(() => promptBody({ ...draft, name: " " }, "p")).toThrow(DraftError);
    expect(() => promptBody({ ...draft, model: "" }, "p")).toThrow("choose a model");
    expect(() => promptBody({ ...draft, params: "{temp" }, "p")).toThrow(/parameters are not JSON/);
    expect(() => promptBody({ ...draft, params: "[1]" }, "p")).toThrow("parameters must be a JSON object");
  });

  it("lists mustache variables once, sections included, closings skipped", () => {
    expect(mustacheVars(draft.messages)).toEqual(["input.question", "metadata", "metadata.hint"]);
    expect(mustacheVars([{ role: "user", content: "{{{ input }}} and {{input}}" }])).toEqual(["input"]);
  });

  it("slugs like the SDK", () => {
    expect(slugOf("  Hello, World! ")).toBe("hello-world");
    expect(slugOf("!!!")).toBe("prompt");
  });
});

describe("playground labels", () => {
  it("labels messages by role, numbered from the second", () => {
    expect(messageLabels([{ role: "system", content: "" }, { role: "user", content: "" }, { role: "user", content: "" }])).toEqual([
      "System message",
      "User message",
      "User message 2",
    ]);
  });

  it("stamps a default experiment name", () => {
    expect(experimentStamp(new Date(2026, 11, 3, 9, 5, 7))).toBe("playground-20261203-090507");
  });
});

describe("playground runs", () => {
  it("builds /v1/eval's body with the draft inline, scorers by name, a base when given", () => {
    const body = evalBody({ projectId: "proj", datasetId: "ds", draft, scorers: ["ExactMatch"], experimentName: " e1 ", baseExperimentName: "try-0" });
    expect(body).toMatchObject({
      project_id: "proj",
      data: { dataset_id: "ds" },
      task: { name: "Answer sums", inline_prompt: { options: { model: "gpt-4o-mini" } } },
      scores: [{ global_function: "ExactMatch" }],
      experiment_name: "e1",
      base_experiment_name: "try-0",
    });
    expect(evalBody({ projectId: "p", datasetId: "d", draft, scorers: ["ExactMatch"] })).not.toHaveProperty("base_experiment_name");
    expect(() => evalBody({ projectId: "p", datasetId: "", draft, scorers: ["ExactMatch"] })).toThrow("choose a dataset");
    expect(() => evalBody({ projectId: "p", datasetId: "d", draft, scorers: [] })).toThrow("choose at least one scorer");
  });

  it("keeps finished root rows, oldest first, with their scorer spans' scores", () => {
    const rows = resultRows([
      { id: "b", root_span_id: "tb", span_parents: null, output: "4", input: "2+2", created: "2026-01-02" },
      { id: "child", root_span_id: "tb", span_parents: ["b"], output: "x", created: "2026-01-01", scores: { ExactMatch: 1 } },
      { id: "child2", root_span_id: "tb", span_parents: ["b"], output: "y", created: "2026-01-01", scores: { Levenshtein: 0.5 } },
      { id: "pending", span_parents: [], output: null, created: "2026-01-01" },
      { id: "err", span_parents: [], output: null, error: "boom", created: "2026-01-03" },
      { id: "a", output: "2", created: "2026-01-01" },
    ]);
    expect(rows.map((r) => r.id)).toEqual(["a", "b", "err"]);
    expect(rows[1].scores).toEqual({ ExactMatch: 1, Levenshtein: 0.5 });
    expect(rows[0].scores).toEqual({});
    expect(rows[2].error).toBe("boom");
  });
});
