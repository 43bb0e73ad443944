// The playground's run: a chat prompt (messages with {{mustache}} slots over the dataset row) with
// a model, over a dataset's rows, scored, saved as an experiment (the evaluator's /v1/eval).

export interface PlaygroundRun {
  projectId: string;
  datasetId: string;
  model: string;
  system: string;
  user: string;
  scorers: string[];
  experimentName: string;
  baseExperimentName?: string | null;
}

export const GLOBAL_SCORERS = ["ExactMatch", "Levenshtein", "NumericDiff", "JSONDiff"] as const;

/** The `/v1/eval` body of a run: an inline prompt task, global scorers. */
export function evalRequest(run: PlaygroundRun): Record<string, unknown> {
  const messages = [
    ...(run.system.trim() ? [{ role: "system", content: run.system }] : []),
    { role: "user", content: run.user },
  ];
  return {
    project_id: run.projectId,
    data: { dataset_id: run.datasetId },
    task: { inline_prompt: { prompt: { type: "chat", messages }, options: { model: run.model } } },
    scores: run.scorers.map((s) => ({ global_function: s })),
    experiment_name: run.experimentName,
    ...(run.baseExperimentName ? { base_experiment_name: run.baseExperimentName } : {}),
    metadata: { source: "playground", model: run.model },
  };
}

/** What is missing before a run can start (null when it can). */
export function runProblem(run: PlaygroundRun): string | null {
  if (!run.datasetId) return "Choose a dataset.";
  if (!run.model.trim()) return "Choose a model.";
  if (!run.user.trim()) return "Write the prompt's user message.";
  if (run.scorers.length === 0) return "Choose at least one scorer.";
  if (!run.experimentName.trim()) return "Name the experiment.";
  return null;
}

export interface Progress {
  done: number;
  total: number;
  errored: number;
  status: string;
}
