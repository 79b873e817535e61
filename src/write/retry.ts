/** Failures after which the whole transaction may safely run again. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01', '25006', '57P01', '57P02', '57P03', '53300', '55000']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'connection error',
  'not queryable',
  'timeout exceeded when trying to connect',
  'Connection ended',
  'the database system is',
  'server closed the connection',
  'terminating connection',
];
const CONNECTION_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTCONN']);

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The connection itself is gone or unusable (the server may or may not have committed). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const state = sqlState(err);
  if (state?.startsWith('08') || state === '57P01' || state === '57P02' || state === '57P03') return true;
  const errno = (err as { code?: unknown }).code;
  if (typeof errno === 'string' && CONNECTION_ERRNOS.has(errno)) return true;
  return CONNECTION_MESSAGES.some((m) => err.message.includes(m));
}

export function isRetryable(err: unknown): boolean {
  const state = sqlState(err);
  if (state && RETRYABLE_SQLSTATES.has(state)) {
    // 55000 only when it is the read-only standby flavour ("cannot execute ... in a read-only transaction" is 25006).
    return state !== '55000' || /recovery|read-only/.test((err as Error).message);
  }
  return isConnectionError(err);
}

/** Exponential backoff with full jitter, capped. */
// Capped low: during a failover a waiting write should find the new primary within ~100 ms
// of it becoming writable. At a 250 ms cap the API's writes resumed ~260 ms after the
// database's own probe saw it writable (chaos postmaster-kill, 2026-12-02: write window
// 2,957 ms against an outage of 2,699 ms), and a write that then met the promoting primary
// still read-only (25006) paid a second backoff. Attempts are connection tries that fail at
// once while no primary is up, bounded per node by its pool.
export function backoffMs(attempt: number, baseMs = 25, capMs = 100): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.floor(ceiling / 2 + Math.random() * (ceiling / 2));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
