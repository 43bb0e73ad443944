import { useQuery } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { useApi } from "../auth";
import { DataTable } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { Empty, Loaded, noItems } from "../components/States";
import type { Experiment } from "../lib/api";
import { formatRelative } from "../lib/format";
import { useProject } from "./ProjectScope";

export default function Experiments() {
  const project = useProject();
  const api = useApi();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: ["experiments", project.id], queryFn: () => api.experiments(project.id) });
  const byId = new Map((q.data ?? []).map((e) => [e.id, e]));
  return (
    <div className="page">
      <PageHeader title="Experiments" subtitle={project.name} />
      <Loaded
        query={q}
        what="experiments"
        isEmpty={noItems}
        empty={
          <Empty title="No experiments yet">
            <p>Run an evaluation with the Braintrust SDK against this server:</p>
            <pre className="code-block">{`from braintrust import Eval
from autoevals import Levenshtein

Eval("${project.name}", data=lambda: [{"input": "a", "expected": "a"}],
     task=lambda x: x, scores=[Levenshtein])`}</pre>
          </Empty>
        }
      >
        {(experiments) => (
          <DataTable<Experiment>
            label="Experiments"
            rows={experiments}
            rowId={(e) => e.id}
            onRowClick={(e) => navigate(encodeURIComponent(e.name))}
            columns={[
              { id: "name", header: "Name", size: 240, grow: true, cell: (e) => <span className="strong link">{e.name}</span> },
              { id: "base", header: "Compared with", size: 200, cell: (e) => (e.base_exp_id ? byId.get(e.base_exp_id)?.name ?? "—" : "—") },
              { id: "created", header: "Created", size: 140, cell: (e) => <span title={e.created}>{formatRelative(e.created)}</span> },
              { id: "tags", header: "Tags", size: 160, cell: (e) => (e.tags ?? []).join(", ") },
            ]}
          />
        )}
      </Loaded>
    </div>
  );
}
