// The signed-in session for the whole app: who, the API client, sign-in and sign-out.

import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { Api, ApiError } from "./lib/api";
import { ApiKeySession, clearSession, loadSession, saveSession, type Session } from "./lib/session";

interface AuthState {
  session: Session | null;
  api: Api | null;
  signInWithKey(apiKey: string): Promise<Session>;
  signOut(reason?: string): void;
  /** why the last session ended ("expired", "signed out"), shown on the sign-in page */
  endedBecause: string | null;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const [endedBecause, setEndedBecause] = useState<string | null>(null);
  const queryClient = useQueryClient();

  const signOut = useCallback(
    (reason?: string) => {
      clearSession();
      queryClient.clear();
      setSession(null);
      setEndedBecause(reason ?? null);
    },
    [queryClient],
  );

  const api = useMemo(() => {
    if (!session) return null;
    // any 401 means the key was revoked or the session expired: back to the sign-in page
    const onFetch: typeof fetch = async (input, init) => {
      const resp = await fetch(input, init);
      if (resp.status === 401) setTimeout(() => signOut("Your session ended: the API key was rejected."), 0);
      return resp;
    };
    return new Api(session, onFetch);
  }, [session, signOut]);

  const signInWithKey = useCallback(async (apiKey: string) => {
    const key = apiKey.trim();
    if (!key) throw new ApiError(400, "Enter an API key.");
    const probe = new Api({ headers: () => ({ Authorization: `Bearer ${key}` }) });
    let identity;
    try {
      identity = await probe.whoAmI();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw new ApiError(401, "This API key is not valid (or was revoked).");
      throw e;
    }
    const s = new ApiKeySession(key, identity);
    saveSession(s);
    setEndedBecause(null);
    setSession(s);
    return s;
  }, []);

  const value = useMemo(
    () => ({ session, api, signInWithKey, signOut, endedBecause }),
    [session, api, signInWithKey, signOut, endedBecause],
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
