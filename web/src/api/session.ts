/**
 * The signed-in session: tokens kept in localStorage so a reload or a second tab stays
 * signed in, refreshed before the access token expires. Refresh tokens rotate and reuse of
 * a rotated one revokes the family, so tabs must never refresh with the same token at
 * once: refreshes run under a Web Lock and re-read storage inside it.
 */

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: string;
  organizationId: string;
  teamId?: string | null;
}

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
  user: SessionUser;
}

export interface TokenResponse {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user: SessionUser;
}

const KEY = 'basalt.session';
type Listener = (s: Session | null, reason?: string) => void;
const listeners = new Set<Listener>();
let current: Session | null = read();

function read(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s.accessToken === 'string' && typeof s.refreshToken === 'string' ? s : null;
  } catch {
    return null;
  }
}

function emit(reason?: string) {
  for (const l of listeners) l(current, reason);
}

export function getSession(): Session | null {
  return current;
}

export function setSessionFromTokens(t: TokenResponse): Session {
  current = { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: Date.now() + t.expiresIn * 1000, user: t.user };
  localStorage.setItem(KEY, JSON.stringify(current));
  emit();
  return current;
}

export function clearSession(reason?: string): void {
  current = null;
  localStorage.removeItem(KEY);
  emit(reason);
}

export function onSessionChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// Another tab signed in, refreshed or signed out.
if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key !== KEY) return;
    current = read();
    emit(current ? undefined : 'signed_out_elsewhere');
  });
}

let inflight: Promise<Session | null> | null = null;

async function withRefreshLock<T>(work: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks ? locks.request('basalt-session-refresh', work) : work();
}

/**
 * Exchanges the refresh token for a new pair. Returns null (and signs out) only when the
 * server rejects the refresh token; a network failure keeps the session for a later retry.
 */
export function refreshSession(): Promise<Session | null> {
  inflight ??= withRefreshLock(async () => {
    const before = current;
    const stored = read();
    // Another tab refreshed while we waited for the lock: use its tokens.
    if (stored && before && stored.refreshToken !== before.refreshToken) {
      current = stored;
      emit();
      return stored;
    }
    if (!stored) {
      if (current) clearSession('expired');
      return null;
    }
    const res = await fetch('/api/v1/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refreshToken: stored.refreshToken }),
    });
    if (res.ok) return setSessionFromTokens((await res.json()) as TokenResponse);
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      clearSession('expired');
      return null;
    }
    throw new Error(`Could not refresh the session (HTTP ${res.status}).`);
  }).finally(() => {
    inflight = null;
  });
  return inflight;
}

/** Milliseconds until the session should be refreshed: a minute early, or at 80% of a short lifetime. */
export function refreshDelay(s: Session, now = Date.now()): number {
  const left = s.expiresAt - now;
  const margin = Math.min(60_000, Math.max(5_000, left * 0.2));
  return Math.max(0, left - margin);
}
