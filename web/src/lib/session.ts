// Who the user is signed in as, and how API calls carry it.
//
// Two kinds of session:
// - an API key, kept in sessionStorage (per tab, gone when the tab closes) and sent as
//   `Authorization: Bearer`;
// - a browser session (email + password or an accepted invitation): the server's HttpOnly cookie,
//   which the page never sees, plus the session's CSRF token, sent in `x-csrf-token` (the server
//   checks it on every write). Nothing of it is stored by the app: on load, `/api/me` says whether
//   the cookie is still good.

export type Role = "viewer" | "member" | "admin" | "owner";
export const ROLES: readonly Role[] = ["viewer", "member", "admin", "owner"];

/** viewer < member < admin < owner, as the server's policy table. */
export function roleAtLeast(role: Role | null | undefined, need: Role): boolean {
  return role != null && ROLES.indexOf(role) >= ROLES.indexOf(need);
}

export interface Identity {
  orgId: string;
  orgName: string;
  /** the user's id, else the API key's */
  userId: string;
  role: Role;
  /** null for a service-account API key */
  email: string | null;
  name?: string | null;
}

export interface Session {
  readonly kind: "api-key" | "cookie";
  readonly identity: Identity;
  headers(): Record<string, string>;
}

/** `GET /api/me` (also what `/api/login` and `/api/invitation/accept` answer). */
export interface Me {
  user: { id: string; email: string; name: string | null; role: Role } | null;
  org: { id: string; name: string };
  role: Role;
  api_key_id: string | null;
  csrf_token: string | null;
}

export function identityOf(me: Me): Identity {
  return {
    orgId: me.org.id,
    orgName: me.org.name || me.org.id,
    userId: me.user?.id ?? me.api_key_id ?? "",
    role: me.role,
    email: me.user?.email ?? null,
    name: me.user?.name ?? null,
  };
}

const STORAGE_KEY = "loopline.session";

interface StoredApiKeySession {
  kind: "api-key";
  apiKey: string;
  identity: Identity;
}

export class ApiKeySession implements Session {
  readonly kind = "api-key" as const;
  constructor(
    readonly apiKey: string,
    readonly identity: Identity,
  ) {}

  headers(): Record<string, string> {
    return { Authorization: `Bearer ${this.apiKey}` };
  }
}

export class CookieSession implements Session {
  readonly kind = "cookie" as const;
  constructor(
    readonly identity: Identity,
    private readonly csrf: string,
  ) {}

  headers(): Record<string, string> {
    return { "x-csrf-token": this.csrf };
  }
}

/** The session a `/api/me` answer describes when it came with the cookie (null otherwise). */
export function cookieSessionOf(me: Me): CookieSession | null {
  return me.csrf_token ? new CookieSession(identityOf(me), me.csrf_token) : null;
}

export function saveSession(session: ApiKeySession, storage: Storage = sessionStorage): void {
  const stored: StoredApiKeySession = { kind: "api-key", apiKey: session.apiKey, identity: session.identity };
  storage.setItem(STORAGE_KEY, JSON.stringify(stored));
}

export function loadSession(storage: Storage = sessionStorage): ApiKeySession | null {
  const raw = storage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Partial<StoredApiKeySession>;
    if (
      s.kind === "api-key" &&
      typeof s.apiKey === "string" &&
      s.identity &&
      typeof s.identity.orgName === "string" &&
      ROLES.includes(s.identity.role)
    ) {
      return new ApiKeySession(s.apiKey, s.identity);
    }
  } catch {
    // a corrupt entry is the same as none
  }
  storage.removeItem(STORAGE_KEY);
  return null;
}

export function clearSession(storage: Storage = sessionStorage): void {
  storage.removeItem(STORAGE_KEY);
}
