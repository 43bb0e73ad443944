// A project's dashboards: the built-in ones every project gets, then the saved ones; a new one.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate } from "react-router-dom";
import { useApi, useCan } from "../auth";
import { DataTable } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { ErrorState, Loaded } from "../components/States";
import type { Dashboard } from "../lib/api";
import { formatRelative } from "../lib/format";
import { useProject } from "./ProjectScope";

export function dashboardPath(d: Pick<Dashboard, "id">): string {
  return encodeURIComponent(d.id);
}

export default function Dashboards() {
  const project = useProject();
  const api = useApi();
  const canWrite = useCan("member");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const q = useQuery({ queryKey: ["dashboards", project.id], queryFn: () => api.dashboards(project.id) });
  const [name, setName] = useState("");
  const [creating, setCreating] = useState(false);
  const create = useMutation({
    mutationFn: () => api.createDashboard({ project_id: project.id, name: name.trim(), charts: [], view: { range: "7d", granularity: "hour" } }),
    onSuccess: (d) => {
      void queryClient.invalidateQueries({ queryKey: ["dashboards", project.id] });
      navigate(dashboardPath(d));
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    if (name.trim()) create.mutate();
  }

  return (
    <div className="page">
      <PageHeader
        title="Dashboards"
        subtitle={project.name}
        actions={
          canWrite && (
            <button className="btn btn-primary" onClick={() => setCreating(true)}>
              New dashboard
            </button>
          )
        }
      />
      {creating && (
        <form className="card inline-form" onSubmit={submit} aria-label="New dashboard">
          <input className="input" autoFocus placeholder="Dashboard name" aria-label="Dashboard name" value={name} onChange={(e) => setName(e.target.value)} />
          <button className="btn btn-primary" type="submit" disabled={!name.trim() || create.isPending}>
            Create
          </button>
          <button className="btn btn-ghost" type="button" onClick={() => setCreating(false)}>
            Cancel
          </button>
        </form>
      )}
      {create.isError && <ErrorState error={create.error} title="Could not create the dashboard" />}
      <Loaded query={q} what="dashboards">
        {(list) => (
          <DataTable<Dashboard>
            label="Dashboards"
            rows={list}
            rowId={(d) => d.id}
            onRowClick={(d) => navigate(dashboardPath(d))}
            columns={[
              {
                id: "name",
                header: "Name",
                size: 300,
                cell: (d) => (
                  <span className="strong link">
                    {d.name} {d.builtin && <span className="badge">built-in</span>}
                  </span>
                ),
              },
              { id: "description", header: "Description", size: 320, grow: true, cell: (d) => <span className="muted">{d.description}</span> },
              { id: "charts", header: "Charts", size: 80, cell: (d) => d.charts.length },
              { id: "updated", header: "Updated", size: 120, cell: (d) => (d.updated ? formatRelative(d.updated) : "—") },
            ]}
          />
        )}
      </Loaded>
    </div>
  );
}
