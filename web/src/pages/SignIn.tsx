import { useState, type FormEvent } from "react";
import { Navigate, useSearchParams } from "react-router-dom";
import { useAuth } from "../auth";

export function SignIn() {
  const { session, signInWithKey, endedBecause } = useAuth();
  const [params] = useSearchParams();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = params.get("next");
  const target = next && next.startsWith("/app/") && !next.startsWith("/app/login") ? next : "/app";

  if (session) return <Navigate to={target} replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signInWithKey(key);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="signin">
      <form className="signin-card" onSubmit={submit} aria-label="Sign in">
        <div className="signin-brand">
          <svg width="36" height="36" viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="7" fill="#4f46e5" />
            <path d="M9 22c0-6 4-10 7-10s7 4 7 10" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
            <circle cx="16" cy="12" r="3" fill="#fff" />
          </svg>
          <h1>Sign in to Loopline</h1>
        </div>
        {endedBecause && <div className="notice">{endedBecause}</div>}
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          autoFocus
          placeholder="sk-…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <p className="hint">
          Use the key <code>loopline up</code> printed, or create one with <code>loopline keys create</code>. It is kept in
          this browser tab only, until you sign out or close the tab.
        </p>
        {error && (
          <div className="form-error" role="alert">
            {error}
          </div>
        )}
        <button className="btn btn-primary" type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
