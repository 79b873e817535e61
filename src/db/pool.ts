import { createHmac } from 'node:crypto';
import pg from 'pg';

// DATE stays a 'YYYY-MM-DD' string and NUMERIC a decimal string: never a JS Date or float.
pg.types.setTypeParser(1082, (v) => v);
pg.types.setTypeParser(1700, (v) => v);
pg.types.setTypeParser(20, (v) => v);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  url: string;
  max: number;
  /**
   * Connections kept open while idle (at most `max`; default 0); the rest close after `idleMs`.
   * Opening one costs a SCRAM handshake and a fresh backend whose caches are cold (~30 ms on
   * the bench machine, CPU on both sides), and a burst that must open many at once stalls
   * every request queued behind them: a pool that shrank in a quiet second pays that at the
   * next busy one.
   */
  minIdle?: number;
  idleMs?: number;
  connectTimeoutMs: number;
  statementTimeoutMs?: number;
  applicationName: string;
  onError?: (err: Error) => void;
}

/**
 * A pool that never crashes the process: an idle client that dies (server restart,
 * failover, pg_terminate_backend) is logged and discarded, and the next checkout opens a
 * fresh connection.
 */
export function createPool(opts: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    min: Math.min(opts.minIdle ?? 0, opts.max),
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: opts.idleMs ?? 30_000,
    statement_timeout: opts.statementTimeoutMs,
    // A node that stalls mid-transaction (GC pause, partition) must not hold row locks, the
    // organization's audit chain head among them, for longer than a statement may run.
    idle_in_transaction_session_timeout: opts.statementTimeoutMs,
    application_name: opts.applicationName,
    keepAlive: true,
  });
  pool.on('error', (err) => opts.onError?.(err));
  // pg-pool listens for a client's 'error' only while it is idle; a checked-out client whose
  // server goes away (pg_terminate_backend, failover) emits 'error' too, which would crash
  // the process. The failure reaches the caller through the query in flight (or the next
  // one: "not queryable"), and the write path then discards the connection.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** The restricted role's password when the operator did not set one: same on every node. */
export function deriveAppRolePassword(adminUrl: string): string {
  return createHmac('sha256', adminUrl).update('basalt-app-role-v1').digest('hex');
}

export function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A string as an SQL literal, safe whatever standard_conforming_strings says: with a
 * backslash inside, an escape string (E'…') with backslashes doubled, as quote_literal does.
 */
export function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/** Runs fn in a plain transaction (no tenant scope: global tables such as signing keys). */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
