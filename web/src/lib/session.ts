// Who the user is signed in as, and how API calls carry it.
//
// Today a session is an API key kept in sessionStorage (per tab, gone when the tab closes) and
// sent as `Authorization: Bearer`. A cookie session (users and roles, later) implements the same
// interface: `headers()` returns {} and requests go with `credentials: "same-origin"`.

export interface Identity {
  orgId: string;
  orgName: string;
  userId: string;
}

export interface Session {
  readonly kind: "api-key" | "cookie";
  readonly identity: Identity;
  headers(): Record<string, string>;
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

export function saveSession(session: ApiKeySession, storage: Storage = sessionStorage): void {
  const stored: StoredApiKeySession = { kind: "api-key", apiKey: session.apiKey, identity: session.identity };
  storage.setItem(STORAGE_KEY, JSON.stringify(stored));
}

export function loadSession(storage: Storage = sessionStorage): Session | null {
  const raw = storage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as Partial<StoredApiKeySession>;
    if (s.kind === "api-key" && typeof s.apiKey === "string" && s.identity && typeof s.identity.orgName === "string") {
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
