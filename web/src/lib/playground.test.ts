import { describe, expect, it } from "vitest";
import { evalRequest, runProblem, type PlaygroundRun } from "./playground";

const run: PlaygroundRun = {
  projectId: "p",
  datasetId: "d",
  model: "gpt-4o-mini",
  system: "Answer with a number.",
  user: "{{input.question}}",
  scorers: ["ExactMatch", "Levenshtein"],
  experimentName: "try-1",
};

describe("evalRequest", () => {
  it("runs an inline chat prompt over the dataset with global scorers", () => {
    expect(evalRequest(run)).toEqual({
      project_id: "p",
      data: { dataset_id: "d" },
      task: {
        inline_prompt: {
          prompt: {
            type: "chat",
            messages: [
              { role: "system", content: "Answer with a number." },
              { role: "user", content: "{{input.question}}" },
            ],
          },
          options: { model: "gpt-4o-mini" },
        },
      },
      scores: [{ global_function: "ExactMatch" }, { global_function: "Levenshtein" }],
      experiment_name: "try-1",
      metadata: { source: "playground", model: "gpt-4o-mini" },
    });
  });
  it("leaves out an empty system message and names a base when given", () => {
    const body = evalRequest({ ...run, system: " ", baseExperimentName: "try-0" });
    expect((body.task as { inline_prompt: { prompt: { messages: unknown[] } } }).inline_prompt.prompt.messages).toHaveLength(1);
    expect(body.base_experiment_name).toBe("try-0");
  });
});

describe("runProblem", () => {
  it("says what is missing", () => {
    expect(runProblem(run)).toBeNull();
    expect(runProblem({ ...run, datasetId: "" })).toBe("Choose a dataset.");
    expect(runProblem({ ...run, scorers: [] })).toBe("Choose at least one scorer.");
  });
});
