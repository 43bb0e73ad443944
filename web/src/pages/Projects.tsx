import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { useApi } from "../auth";
import { PageHeader } from "../components/Layout";
import { Empty, Loaded, noItems } from "../components/States";
import { formatRelative } from "../lib/format";

export function Projects() {
  const api = useApi();
  const { org } = useParams();
  const q = useQuery({ queryKey: ["projects"], queryFn: () => api.projects() });
  return (
    <div className="page">
      <PageHeader title="Projects" subtitle={org} />
      <Loaded
        query={q}
        what="projects"
        isEmpty={noItems}
        empty={
          <Empty title="No projects yet">
            <p>Projects appear when you log to one with the Braintrust SDK:</p>
            <pre className="code-block">{`export BRAINTRUST_API_URL=${window.location.origin} BRAINTRUST_API_KEY=<your key>
python -c "import braintrust; l = braintrust.init_logger(project='my-app'); l.log(input='hi', output='hello'); l.flush()"`}</pre>
          </Empty>
        }
      >
        {(projects) => (
          <div className="card-grid">
            {projects.map((p) => (
              <Link className="card project-card" key={p.id} to={`p/${encodeURIComponent(p.name)}/logs`}>
                <div className="card-title">{p.name}</div>
                {p.description && <div className="muted">{p.description}</div>}
                <div className="muted small">created {formatRelative(p.created)}</div>
              </Link>
            ))}
          </div>
        )}
      </Loaded>
    </div>
  );
}
