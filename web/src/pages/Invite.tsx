// `/app/invite#token=…`: accept an invitation (or the first-owner link `loopline up` prints):
// create the account with a password, then land signed in. The token is in the URL's fragment,
// which browsers never send to a server.

import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation } from "react-router-dom";
import { useAuth } from "../auth";
import { AuthCard, FormError } from "../components/Brand";

export function tokenFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const t = params.get("token");
  return t && t.trim() ? t.trim() : null;
}

export const MIN_PASSWORD = 8;

export function Invite() {
  const { session, acceptInvitation } = useAuth();
  const location = useLocation();
  const token = tokenFromHash(location.hash);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);

  if (done && session) return <Navigate to="/app" replace />;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (password.length < MIN_PASSWORD) return setError(`The password needs at least ${MIN_PASSWORD} characters.`);
    if (password !== again) return setError("The two passwords differ.");
    setBusy(true);
    try {
      await acceptInvitation({ token: token!, email: email.trim(), password, name: name.trim() });
      setDone(true);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  if (!token)
    return (
      <AuthCard title="Invitation" label="Accept invitation" onSubmit={(e) => e.preventDefault()}>
        <div className="form-error" role="alert">
          This link has no invitation token. Open the whole link you were sent (it ends with <code>#token=…</code>).
        </div>
        <Link to="/app/login">Sign in instead</Link>
      </AuthCard>
    );

  return (
    <AuthCard title="Join Loopline" label="Accept invitation" onSubmit={submit}>
      {session && <div className="notice">You are signed in already: accepting signs you in as the new account.</div>}
      <p className="hint">Create your account: the invitation decides your organization and role. The link works once.</p>
      <label htmlFor="invite-email">Email</label>
      <input id="invite-email" type="email" autoComplete="username" autoFocus value={email} onChange={(e) => setEmail(e.target.value)} required />
      <label htmlFor="invite-name">Name</label>
      <input id="invite-name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
      <label htmlFor="invite-password">Password</label>
      <input id="invite-password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <label htmlFor="invite-again">Password again</label>
      <input id="invite-again" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} />
      <FormError error={error} />
      <button className="btn btn-primary" type="submit" disabled={busy}>
        {busy ? "Creating…" : "Create account"}
      </button>
    </AuthCard>
  );
}
