import { NavLink, Outlet, useMatch, useNavigate } from "react-router-dom";
import { useAuth, useCan } from "../auth";
import { LogoMark } from "./Brand";
import { LoopPanel, LoopProvider, useLoop } from "./Loop";

export function Layout() {
  return (
    <LoopProvider>
      <Shell />
    </LoopProvider>
  );
}

function Shell() {
  const loop = useLoop();
  const canLoop = useCan("member");
  const { session, signOut } = useAuth();
  const navigate = useNavigate();
  const inProject = useMatch("/app/:org/p/:project/*");
  const org = session!.identity.orgName;
  const orgPath = `/app/${encodeURIComponent(org)}`;
  const project = inProject?.params.project;
  const projectPath = project ? `${orgPath}/p/${encodeURIComponent(project)}` : null;

  return (
    <div className={`shell${loop.open && canLoop ? " with-loop" : ""}`}>
      <nav className="sidebar" aria-label="Main">
        <NavLink to={orgPath} end className="brand">
          <LogoMark /> Loopline
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
          <NavLink to={`${orgPath}/settings/members`} className="nav-item">
            Members
          </NavLink>
          <NavLink to={`${orgPath}/settings/ai-providers`} className="nav-item">
            AI providers
          </NavLink>
          <NavLink to={`${orgPath}/settings/loop-models`} className="nav-item">
            Loop models
          </NavLink>
          {canLoop ? (
            <button className={`nav-item loop-toggle${loop.open ? " active" : ""}`} aria-pressed={loop.open} onClick={() => loop.setOpen(!loop.open)}>
              ✦ Loop
            </button>
          ) : (
            // Loop runs a model and can change data: members and up (the server refuses viewers)
            <div className="nav-item loop-off" aria-label="Loop (read-only role)">
              <span aria-hidden>✦ Loop</span>
              <span className="nav-note">Not available to viewers: Loop runs models and can change data. Ask an admin for the member role.</span>
            </div>
          )}
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
            <NavLink to={`${projectPath}/dashboards`} className="nav-item">
              Dashboards
            </NavLink>
            <NavLink to={`${projectPath}/playground`} className="nav-item">
              Playground
            </NavLink>
            <NavLink to={`${projectPath}/btql`} className="nav-item">
              Query (BTQL)
            </NavLink>
            <NavLink to={`${projectPath}/prompts`} className="nav-item">
              Prompts & scorers
            </NavLink>
            <NavLink to={`${projectPath}/online-scoring`} className="nav-item">
              Online scoring
            </NavLink>
            <NavLink to={`${projectPath}/intents`} className="nav-item">
              Intents
            </NavLink>
          </div>
        )}
        <div className="sidebar-foot">
          <div className="signed-in" aria-label="Signed in as">
            {session!.identity.email ? (
              <span className="signed-email" title={session!.identity.email}>
                {session!.identity.email}
              </span>
            ) : (
              <>Signed in with an API key</>
            )}
            <span className="muted"> · {session!.identity.role}</span>
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
      <LoopPanel />
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
