// "Add to dataset": the chosen log traces' root spans become records of a dataset of the project
// (an existing one or a new one), in the dataset's row shape: input, expected (the logged
// expected, else the output), metadata, tags, and their origin.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { useApi } from "../auth";
import { rootSpansQuery } from "../lib/btql";
import { recordFromLog, type LogRootSpan } from "../lib/records";
import type { Project } from "../lib/api";

const NEW = "__new__";

export function AddToDataset({ project, rootSpanIds, onClear }: { project: Project; rootSpanIds: string[]; onClear: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const datasets = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  const [target, setTarget] = useState("");
  const [newName, setNewName] = useState("");
  const chosen = target || datasets.data?.[0]?.id || NEW;
  const add = useMutation({
    mutationFn: async () => {
      const spans = (await api.btql<LogRootSpan>(rootSpansQuery(project.id, rootSpanIds))).data;
      const ds = chosen === NEW ? await api.createDataset(project.id, newName.trim()) : datasets.data!.find((d) => d.id === chosen)!;
      await api.insertRecords(
        ds.id,
        spans.map((s) => recordFromLog(s, project.id)),
      );
      return { dataset: ds, count: spans.length };
    },
    onSuccess: ({ dataset }) => {
      void queryClient.invalidateQueries({ queryKey: ["datasets", project.id] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-rows", dataset.id] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-versions", dataset.id] });
      onClear();
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    if (chosen === NEW && !newName.trim()) return;
    add.mutate();
  }
  return (
    <>
      {rootSpanIds.length > 0 && (
        <form className="selection-bar" onSubmit={submit} aria-label="Add to dataset">
          <strong>
            {rootSpanIds.length} {rootSpanIds.length === 1 ? "trace" : "traces"} selected
          </strong>
          <span className="muted">add to</span>
          <select className="input input-sm" aria-label="Dataset" value={chosen} onChange={(e) => setTarget(e.target.value)}>
            {(datasets.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
            <option value={NEW}>a new dataset…</option>
          </select>
          {chosen === NEW && <input className="input input-sm" placeholder="New dataset name" aria-label="New dataset name" value={newName} onChange={(e) => setNewName(e.target.value)} />}
          <button className="btn btn-primary btn-sm" type="submit" disabled={add.isPending}>
            {add.isPending ? "Adding…" : "Add to dataset"}
          </button>
          <button className="btn btn-ghost btn-sm" type="button" onClick={onClear}>
            Clear selection
          </button>
          {add.isError && (
            <span className="form-error" role="alert">
              {add.error.message}
            </span>
          )}
        </form>
      )}
      {add.isSuccess && rootSpanIds.length === 0 && (
        <div className="notice" role="status">
          Added {add.data.count} {add.data.count === 1 ? "record" : "records"} to{" "}
          <Link to={`../datasets/${encodeURIComponent(add.data.dataset.name)}`}>{add.data.dataset.name}</Link>.
        </div>
      )}
    </>
  );
}
