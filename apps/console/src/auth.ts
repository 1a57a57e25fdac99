// The signed-in user's access token: kept in sessionStorage (gone with the tab), taken from a
// `#token=<jwt>` link on load, and decoded (never verified: the APIs verify it) to name the user.

const STORAGE_KEY = 'hospital-console.token';

export interface Identity {
  /** The `role` claim, else the first of `roles`. */
  role: string;
  /** The `sub` claim, else `name`. */
  subject: string;
  /** The display name, when the token carries one. */
  name?: string;
  /** Expiry (`exp`) in milliseconds since the epoch, when the token carries one. */
  expiresAt?: number;
}

export function readToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * Takes a token from a `#token=<jwt>` fragment into sessionStorage and removes the fragment from the
 * address (and history), so the token is neither bookmarked nor shown. True when there was one.
 */
export function adoptTokenFromFragment(): boolean {
  const match = /^#token=([^&]+)/.exec(window.location.hash);
  if (!match) return false;
  storeToken(decodeURIComponent(match[1]).trim());
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
  return true;
}

function base64UrlDecode(segment: string): string {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value : undefined;

/** The payload of a JWT as the console shows it; throws when the text is not a JWT. */
export function decodeIdentity(token: string): Identity {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[1] === '')
    throw new Error('This is not a JWT (three dot-separated parts).');
  let claims: unknown;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new Error('The token payload is not base64url-encoded JSON.');
  }
  if (typeof claims !== 'object' || claims === null) throw new Error('The token payload is not an object.');
  const c = claims as Record<string, unknown>;
  const roles = Array.isArray(c.roles) ? (c.roles as unknown[]) : [];
  const role = text(c.role) ?? text(roles[0]) ?? 'no role';
  const name = text(c.name);
  const subject = text(c.sub) ?? name ?? 'unknown';
  const expiresAt = typeof c.exp === 'number' ? c.exp * 1000 : undefined;
  return {
    role,
    subject,
    ...(name && name !== subject ? { name } : {}),
    ...(expiresAt ? { expiresAt } : {}),
  };
}

/** `administrator · dev-administrator`, with the display name after it when there is one. */
export function describeIdentity(identity: Identity): string {
  const base = `${identity.role} · ${identity.subject}`;
  return identity.name ? `${base} (${identity.name})` : base;
}
