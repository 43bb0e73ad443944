import { lazy, Suspense } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { BrowserRouter, Navigate, Outlet, Route, Routes, useLocation } from "react-router-dom";
import { AuthProvider, useAuth } from "./auth";
import { ApiError } from "./lib/api";
import { Layout } from "./components/Layout";
import { Loading } from "./components/States";
import { SignIn } from "./pages/SignIn";
import { Invite } from "./pages/Invite";
import { Projects } from "./pages/Projects";
import { NotFound } from "./pages/NotFound";
import { ProjectScope } from "./pages/ProjectScope";
import { LogsPage } from "./pages/Logs";

// pages below are loaded on first visit: the logs page (the landing page) stays small
const Experiments = lazy(() => import("./pages/Experiments"));
const ExperimentPage = lazy(() => import("./pages/Experiment"));
const Datasets = lazy(() => import("./pages/Datasets"));
const DatasetPage = lazy(() => import("./pages/Dataset"));
const Sandbox = lazy(() => import("./pages/Sandbox"));
const Playground = lazy(() => import("./pages/Playground"));
const Members = lazy(() => import("./pages/Members"));
const Dashboards = lazy(() => import("./pages/Dashboards"));
const DashboardPage = lazy(() => import("./pages/Dashboard"));
const Prompts = lazy(() => import("./pages/Prompts"));
const AiProviders = lazy(() => import("./pages/AiProviders"));
const OnlineScoring = lazy(() => import("./pages/OnlineScoring"));
const Intents = lazy(() => import("./pages/Intents"));
const LoopModels = lazy(() => import("./pages/LoopModels"));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status > 0 && err.status < 500) && count < 2,
    },
  },
});

function RequireSession() {
  const { session, ready } = useAuth();
  const location = useLocation();
  if (!ready) return <Loading what="session" />;
  if (!session) {
    const next = location.pathname + location.search;
    return <Navigate to={`/app/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <Outlet />;
}

function Home() {
  const { session } = useAuth();
  return <Navigate to={`/app/${encodeURIComponent(session!.identity.orgName)}`} replace />;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <BrowserRouter>
          <Suspense fallback={<Loading what="page" />}>
            <Routes>
              <Route path="/" element={<Navigate to="/app" replace />} />
              <Route path="/app/login" element={<SignIn />} />
              <Route path="/app/invite" element={<Invite />} />
              <Route element={<RequireSession />}>
                <Route path="/app" element={<Home />} />
                <Route path="/app/:org" element={<Layout />}>
                  <Route index element={<Projects />} />
                  <Route path="btql" element={<Sandbox />} />
                  <Route path="settings/members" element={<Members />} />
                  <Route path="settings/ai-providers" element={<AiProviders />} />
                  <Route path="settings/loop-models" element={<LoopModels />} />
                  <Route path="p/:project" element={<ProjectScope />}>
                    <Route index element={<Navigate to="logs" replace />} />
                    <Route path="logs" element={<LogsPage />} />
                    <Route path="experiments" element={<Experiments />} />
                    <Route path="experiments/:experiment" element={<ExperimentPage />} />
                    <Route path="datasets" element={<Datasets />} />
                    <Route path="datasets/:dataset" element={<DatasetPage />} />
                    <Route path="dashboards" element={<Dashboards />} />
                    <Route path="playground" element={<Playground />} />
                    <Route path="dashboards/:dashboard" element={<DashboardPage />} />
                    <Route path="btql" element={<Sandbox />} />
                    <Route path="prompts" element={<Prompts />} />
                    <Route path="online-scoring" element={<OnlineScoring />} />
                    <Route path="intents" element={<Intents />} />
                    <Route path="*" element={<NotFound />} />
                  </Route>
                  <Route path="*" element={<NotFound />} />
                </Route>
              </Route>
              <Route path="*" element={<NotFound />} />
            </Routes>
          </Suspense>
        </BrowserRouter>
      </AuthProvider>
    </QueryClientProvider>
  );
}
