import { useState, type FormEvent } from "react";
import { Navigate, useSearchParams } from "react-router-dom";
import { useAuth } from "../auth";
import { AuthCard, FormError } from "../components/Brand";

type Method = "password" | "api-key";

export function SignIn() {
  const { session, signInWithKey, signInWithPassword, endedBecause } = useAuth();
  const [params] = useSearchParams();
  const [method, setMethod] = useState<Method>(() => (localStorage.getItem("loopline.signin-method") as Method | null) ?? "password");
  const [key, setKey] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = params.get("next");
  const target = next && next.startsWith("/app/") && !next.startsWith("/app/login") && !next.startsWith("/app/invite") ? next : "/app";

  if (session) return <Navigate to={target} replace />;

  function choose(m: Method) {
    setMethod(m);
    setError(null);
    localStorage.setItem("loopline.signin-method", m);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (method === "api-key") await signInWithKey(key);
      else await signInWithPassword(email, password);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthCard title="Sign in to Loopline" label="Sign in" onSubmit={submit}>
      {endedBecause && <div className="notice">{endedBecause}</div>}
      <div className="tabs" role="tablist" aria-label="How to sign in">
        <button type="button" role="tab" aria-selected={method === "password"} className={`tab${method === "password" ? " active" : ""}`} onClick={() => choose("password")}>
          Email
        </button>
        <button type="button" role="tab" aria-selected={method === "api-key"} className={`tab${method === "api-key" ? " active" : ""}`} onClick={() => choose("api-key")}>
          API key
        </button>
      </div>
      {method === "password" ? (
        <>
          <label htmlFor="email">Email</label>
          <input id="email" name="email" type="email" autoComplete="username" autoFocus value={email} onChange={(e) => setEmail(e.target.value)} />
          <label htmlFor="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          <p className="hint">
            No account yet? Ask an admin of your organization for an invitation link, or open the first-owner link <code>loopline up</code> printed.
          </p>
        </>
      ) : (
        <>
          <label htmlFor="api-key">API key</label>
          <input id="api-key" name="api-key" type="password" autoComplete="off" autoFocus placeholder="sk-…" value={key} onChange={(e) => setKey(e.target.value)} />
          <p className="hint">
            Use the key <code>loopline up</code> printed, or create one with <code>loopline keys create</code>. It is kept in this browser tab only, until
            you sign out or close the tab.
          </p>
        </>
      )}
      <FormError error={error} />
      <button className="btn btn-primary" type="submit" disabled={busy}>
        {busy ? "Checking…" : "Sign in"}
      </button>
    </AuthCard>
  );
}
