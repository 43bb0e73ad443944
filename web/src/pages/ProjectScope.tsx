// The project named in the URL (`/app/:org/p/:project/...`), resolved once for its pages.

import { createContext, useContext } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, Outlet, useParams } from "react-router-dom";
import { useApi } from "../auth";
import type { Project } from "../lib/api";
import { Empty, ErrorState, Loading } from "../components/States";

const ProjectContext = createContext<Project | null>(null);

export function useProject(): Project {
  const p = useContext(ProjectContext);
  if (!p) throw new Error("useProject outside a project page");
  return p;
}

export function useOptionalProject(): Project | null {
  return useContext(ProjectContext);
}

export function ProjectScope() {
  const { org, project } = useParams();
  const api = useApi();
  const q = useQuery({ queryKey: ["project", project], queryFn: () => api.projectByName(project!) });
  if (q.isPending) return <Loading what="project" />;
  if (q.isError) return <ErrorState error={q.error} title="Could not load the project" />;
  if (!q.data)
    return (
      <Empty title={`No project named “${project}”`}>
        <Link to={`/app/${encodeURIComponent(org!)}`}>See all projects</Link>
      </Empty>
    );
  return (
    <ProjectContext.Provider value={q.data}>
      <Outlet />
    </ProjectContext.Provider>
  );
}
