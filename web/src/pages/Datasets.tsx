import { useQuery } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { useApi } from "../auth";
import { DataTable } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { Empty, ErrorState, Loading } from "../components/States";
import type { Dataset } from "../lib/api";
import { formatRelative } from "../lib/format";
import { useProject } from "./ProjectScope";

export default function Datasets() {
  const project = useProject();
  const api = useApi();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: ["datasets", project.id], queryFn: () => api.datasets(project.id) });
  return (
    <div className="page">
      <PageHeader title="Datasets" subtitle={project.name} />
      {q.isPending ? (
        <Loading what="datasets" />
      ) : q.isError ? (
        <ErrorState error={q.error} title="Could not load datasets" />
      ) : q.data.length === 0 ? (
        <Empty title="No datasets yet">
          <pre className="code-block">{`import braintrust
ds = braintrust.init_dataset(project="${project.name}", name="my-dataset")
ds.insert(input={"question": "..."}, expected={"answer": "..."})
ds.flush()`}</pre>
        </Empty>
      ) : (
        <DataTable<Dataset>
          label="Datasets"
          rows={q.data}
          rowId={(d) => d.id}
          onRowClick={(d) => navigate(encodeURIComponent(d.name))}
          columns={[
            { id: "name", header: "Name", size: 240, grow: true, cell: (d) => <span className="strong link">{d.name}</span> },
            { id: "description", header: "Description", size: 280, cell: (d) => d.description ?? "" },
            { id: "created", header: "Created", size: 140, cell: (d) => <span title={d.created}>{formatRelative(d.created)}</span> },
          ]}
        />
      )}
    </div>
  );
}
