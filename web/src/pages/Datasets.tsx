import { useQuery } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { useApi } from "../auth";
import { DataTable } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { Empty, Loaded, noItems } from "../components/States";
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
      <Loaded
        query={q}
        what="datasets"
        isEmpty={noItems}
        empty={
          <Empty title="No datasets yet">
            <pre className="code-block">{`import braintrust
ds = braintrust.init_dataset(project="${project.name}", name="my-dataset")
ds.insert(input={"question": "..."}, expected={"answer": "..."})
ds.flush()`}</pre>
          </Empty>
        }
      >
        {(datasets) => (
          <DataTable<Dataset>
            label="Datasets"
            rows={datasets}
            rowId={(d) => d.id}
            onRowClick={(d) => navigate(encodeURIComponent(d.name))}
            columns={[
              { id: "name", header: "Name", size: 240, grow: true, cell: (d) => <span className="strong link">{d.name}</span> },
              { id: "description", header: "Description", size: 280, cell: (d) => d.description ?? "" },
              { id: "created", header: "Created", size: 140, cell: (d) => <span title={d.created}>{formatRelative(d.created)}</span> },
            ]}
          />
        )}
      </Loaded>
    </div>
  );
}
