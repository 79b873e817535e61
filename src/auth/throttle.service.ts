import type { Pool } from '../db/pool.ts';
import { AppError } from '../http/errors.ts';
import { sha256 } from './auth.service.ts';

/**
 * Attempt counters shared by every node (the auth_throttle table, fixed windows). An
 * attempt is counted before the credential is checked, in one statement, so parallel
 * guesses cannot all slip past a check-then-count gap; a success then gives it back.
 */
export interface ThrottleDeps {
  pool: Pool;
  /** Attempts allowed per key in one window (BASALT_LOGIN_MAX_ATTEMPTS). */
  maxAttempts: number;
  windowSeconds: number;
}

export interface Counter {
  key: string;
  limit: number;
}

/** Per email (case-insensitive, hashed: no addresses in a global table) and per client address (5x). */
export function loginCounters(deps: ThrottleDeps, email: string, ip: string): Counter[] {
  return [
    { key: `login:email:${sha256(email.trim().toLowerCase())}`, limit: deps.maxAttempts },
    { key: `login:ip:${ip}`, limit: deps.maxAttempts * 5 },
  ];
}

export function mfaCounter(deps: ThrottleDeps, userId: string): Counter {
  return { key: `mfa:user:${userId}`, limit: deps.maxAttempts };
}

export function signupCounter(deps: ThrottleDeps, ip: string): Counter {
  return { key: `signup:ip:${ip}`, limit: deps.maxAttempts * 5 };
}

/** Counts one attempt on every counter; 429 rate_limited (with Retry-After) when any is over its limit. */
export async function countAttempt(deps: ThrottleDeps, counters: Counter[]): Promise<void> {
  const res = await deps.pool.query<{ key: string; attempts: number; retry_after: number }>(
    `INSERT INTO auth_throttle AS t (key, window_start, attempts)
     SELECT k, now(), 1 FROM unnest($1::text[]) AS k
     ON CONFLICT (key) DO UPDATE SET
       attempts = CASE WHEN t.window_start <= now() - make_interval(secs => $2) THEN 1 ELSE t.attempts + 1 END,
       window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $2) THEN now() ELSE t.window_start END
     RETURNING key, attempts,
       greatest(1, ceil(extract(epoch FROM window_start + make_interval(secs => $2) - now())))::integer AS retry_after`,
    [counters.map((c) => c.key), deps.windowSeconds],
  );
  let retryAfter = 0;
  for (const row of res.rows) {
    const limit = counters.find((c) => c.key === row.key)?.limit ?? 0;
    if (row.attempts > limit) retryAfter = Math.max(retryAfter, row.retry_after);
  }
  if (Math.random() < 0.01) void purgeExpired(deps);
  if (retryAfter > 0) {
    throw new AppError(
      'rate_limited',
      `Too many attempts. Try again in ${retryAfter} seconds.`,
      undefined,
      { retryAfter },
      { 'Retry-After': String(retryAfter) },
    );
  }
}

/** After a success: the attempt is given back, and the counters in `clear` start over. */
export async function forgiveAttempt(deps: ThrottleDeps, giveBack: Counter[], clear: Counter[] = []): Promise<void> {
  await deps.pool.query(
    `WITH gone AS (DELETE FROM auth_throttle WHERE key = ANY($2::text[]))
     UPDATE auth_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = ANY($1::text[])`,
    [giveBack.map((c) => c.key), clear.map((c) => c.key)],
  );
}

async function purgeExpired(deps: ThrottleDeps): Promise<void> {
  await deps.pool
    .query(
      `DELETE FROM auth_throttle WHERE key IN (
         SELECT key FROM auth_throttle WHERE window_start < now() - make_interval(secs => $1) LIMIT 1000)`,
      [deps.windowSeconds],
    )
    .catch(() => {});
}
