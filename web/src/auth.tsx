// The signed-in session for the whole app: who, the API client, sign-in and sign-out.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { Api, ApiError } from "./lib/api";
import {
  ApiKeySession,
  clearSession,
  cookieSessionOf,
  identityOf,
  loadSession,
  roleAtLeast,
  saveSession,
  type Me,
  type Role,
  type Session,
} from "./lib/session";

interface AuthState {
  /** false while the app asks the server whether the browser's session cookie is still good */
  ready: boolean;
  session: Session | null;
  api: Api | null;
  signInWithKey(apiKey: string): Promise<Session>;
  signInWithPassword(email: string, password: string): Promise<Session>;
  acceptInvitation(body: { token: string; email: string; password: string; name?: string }): Promise<Session>;
  signOut(reason?: string): void;
  /** why the last session ended ("expired", "signed out"), shown on the sign-in page */
  endedBecause: string | null;
}

const EXPIRED = "Your session ended: sign in again.";
const AuthContext = createContext<AuthState | null>(null);
const anonymous = new Api({ headers: () => ({}) });

function fromCookie(me: Me): Session {
  const s = cookieSessionOf(me);
  if (!s) throw new ApiError(500, "the server did not start a browser session");
  return s;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [ready, setReady] = useState(() => session !== null);
  const [endedBecause, setEndedBecause] = useState<string | null>(null);
  const queryClient = useQueryClient();

  useEffect(() => {
    if (ready) return;
    // no API key in this tab: is there a browser session (the HttpOnly cookie)?
    let live = true;
    anonymous
      .me()
      .then((me) => live && setSession(cookieSessionOf(me)))
      .catch(() => undefined)
      .finally(() => live && setReady(true));
    return () => {
      live = false;
    };
  }, [ready]);

  const signOut = useCallback(
    (reason?: string) => {
      if (session?.kind === "cookie" && reason !== EXPIRED) {
        // end the server's session too (the cookie is HttpOnly: only the server can clear it)
        void new Api(session).logout().catch(() => undefined);
      }
      setSession(null);
      clearSession();
      queryClient.clear();
      setEndedBecause(reason ?? null);
    },
    [queryClient, session],
  );

  const api = useMemo(() => {
    if (!session) return null;
    // any 401 means the key was revoked or the session expired: back to the sign-in page
    const why = session.kind === "cookie" ? EXPIRED : "Your session ended: the API key was rejected.";
    const onFetch: typeof fetch = async (input, init) => {
      const resp = await fetch(input, init);
      if (resp.status === 401) setTimeout(() => signOut(why), 0);
      return resp;
    };
    return new Api(session, onFetch);
  }, [session, signOut]);

  const started = useCallback((s: Session) => {
    setEndedBecause(null);
    setSession(s);
    return s;
  }, []);

  const signInWithKey = useCallback(
    async (apiKey: string) => {
      const key = apiKey.trim();
      if (!key) throw new ApiError(400, "Enter an API key.");
      const probe = new Api({ headers: () => ({ Authorization: `Bearer ${key}` }) });
      let me: Me;
      try {
        me = await probe.me();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) throw new ApiError(401, "This API key is not valid (or was revoked).");
        throw e;
      }
      const s = new ApiKeySession(key, identityOf(me));
      saveSession(s);
      return started(s);
    },
    [started],
  );

  const signInWithPassword = useCallback(
    async (email: string, password: string) => {
      if (!email.trim() || !password) throw new ApiError(400, "Enter your email and password.");
      return started(fromCookie(await anonymous.login(email.trim(), password)));
    },
    [started],
  );

  const acceptInvitation = useCallback(
    async (body: { token: string; email: string; password: string; name?: string }) =>
      started(fromCookie(await anonymous.acceptInvitation(body))),
    [started],
  );

  const value = useMemo(
    () => ({ ready, session, api, signInWithKey, signInWithPassword, acceptInvitation, signOut, endedBecause }),
    [ready, session, api, signInWithKey, signInWithPassword, acceptInvitation, signOut, endedBecause],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}

/** The API client of a signed-in page (pages under RequireSession only). */
export function useApi(): Api {
  const { api } = useAuth();
  if (!api) throw new Error("useApi without a session");
  return api;
}

/** Whether the signed-in user's role is at least `need` (the server enforces it; this hides what would be refused). */
export function useCan(need: Role): boolean {
  const { session } = useAuth();
  return roleAtLeast(session?.identity.role, need);
}
