import { NavLink, Outlet, useMatch, useNavigate } from "react-router-dom";
import { useAuth } from "../auth";

function Logo() {
  return (
    <svg width="22" height="22" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#4f46e5" />
      <path d="M9 22c0-6 4-10 7-10s7 4 7 10" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
      <circle cx="16" cy="12" r="3" fill="#fff" />
    </svg>
  );
}

export function Layout() {
  const { session, signOut } = useAuth();
  const navigate = useNavigate();
  const inProject = useMatch("/app/:org/p/:project/*");
  const org = session!.identity.orgName;
  const orgPath = `/app/${encodeURIComponent(org)}`;
  const project = inProject?.params.project;
  const projectPath = project ? `${orgPath}/p/${encodeURIComponent(project)}` : null;

  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <NavLink to={orgPath} end className="brand">
          <Logo /> Loopline
        </NavLink>
        <div className="nav-section">
          <div className="nav-label">Organization</div>
          <div className="org-name" title={session!.identity.orgId}>
            {org}
          </div>
          <NavLink to={orgPath} end className="nav-item">
            Projects
          </NavLink>
          <NavLink to={`${orgPath}/btql`} className="nav-item">
            BTQL sandbox
          </NavLink>
        </div>
        {projectPath && (
          <div className="nav-section">
            <div className="nav-label">Project</div>
            <div className="project-name">{project}</div>
            <NavLink to={`${projectPath}/logs`} className="nav-item">
              Logs
            </NavLink>
            <NavLink to={`${projectPath}/experiments`} className="nav-item">
              Experiments
            </NavLink>
            <NavLink to={`${projectPath}/datasets`} className="nav-item">
              Datasets
            </NavLink>
            <NavLink to={`${projectPath}/btql`} className="nav-item">
              Query (BTQL)
            </NavLink>
          </div>
        )}
        <div className="sidebar-foot">
          <div className="signed-in">
            Signed in with an API key
            <span className="muted"> · {session!.identity.userId.slice(0, 8)}</span>
          </div>
          <button
            className="btn btn-ghost"
            onClick={() => {
              signOut("You signed out.");
              navigate("/app/login");
            }}
          >
            Sign out
          </button>
        </div>
      </nav>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: string; actions?: React.ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <div className="subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </header>
  );
}
