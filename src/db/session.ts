import type { Actor } from '../auth/actor.ts';
import { isUuid } from '../objects/field-types.ts';
import { backoffMs, isConnectionError, isRetryable, sleep } from '../write/retry.ts';
import type { QueryResult } from 'pg';
import type { Pool, PoolClient } from './pool.ts';

/**
 * What a tenant transaction opened by withTenant learned in its first round trip: the
 * organization's metadata version (migrations/0009_metadata_version.sql), which
 * src/objects/registry.ts compares with its cached custom fields. Present only while that
 * transaction runs on the connection; removed before the connection goes back to the pool.
 */
export interface TenantMetadata {
  pool: Pool;
  orgId: string;
  /** organizations.metadata_version as a decimal string. */
  version: string;
}

const openTransactions = new WeakMap<PoolClient, TenantMetadata>();

export function tenantMetadata(client: PoolClient): TenantMetadata | undefined {
  return openTransactions.get(client);
}

/**
 * Read after BEGIN and set_config in the same simple-query string: a separate statement, so
 * basalt.org_id is set when it runs (the order of evaluation inside one SELECT list is not
 * defined), and no extra round trip.
 */
const METADATA_VERSION_SQL = 'SELECT metadata_version FROM organizations WHERE id = basalt_org()';

/** The message that opens a tenant transaction: BEGIN, the tenant settings, the organization's metadata version. */
export function openTenantSql(actor: Parameters<typeof beginSql>[0], readOnly = false): string {
  return `${beginSql(actor, readOnly)}; ${METADATA_VERSION_SQL}`;
}

/** Keeps the metadata version the opening message read (its third result) while the transaction runs. */
export function rememberTenantMetadata(client: PoolClient, pool: Pool, orgId: string, opened: QueryResult[]): void {
  const version = opened[2]?.rows[0]?.metadata_version as string | undefined;
  if (version !== undefined && version !== null) openTransactions.set(client, { pool, orgId, version: String(version) });
}

/**
 * Forgets it: when the transaction ends, and in a transaction about to change the
 * organization's fields (what it reads next must come from the database, not the cache).
 */
export function forgetTenantMetadata(client: PoolClient): void {
  openTransactions.delete(client);
}

/**
 * Opens a tenant transaction in one round trip: BEGIN and the per-transaction settings
 * that row-level security reads (organization, user, team, scope). Values are UUIDs or
 * fixed words, checked here, so inlining them is safe.
 */
export function beginSql(actor: Pick<Actor, 'orgId' | 'userId' | 'teamId' | 'role'> | { orgId: string }, readOnly = false): string {
  const settings: [string, string][] = [['basalt.org_id', checked(actor.orgId)]];
  if ('userId' in actor) {
    settings.push(['basalt.user_id', checked(actor.userId)]);
    settings.push(['basalt.team_id', actor.teamId ? checked(actor.teamId) : '']);
    settings.push(['basalt.read_all', actor.role === 'admin' ? 'on' : 'off']);
    settings.push(['basalt.write_all', actor.role === 'admin' ? 'on' : 'off']);
    settings.push(['basalt.team_scope', actor.role === 'manager' ? 'on' : 'off']);
  }
  const sets = settings.map(([k, v]) => `set_config('${k}', '${v}', true)`).join(', ');
  return `BEGIN${readOnly ? ' READ ONLY' : ''}; SELECT ${sets}`;
}

function checked(id: string): string {
  if (!isUuid(id)) throw new Error('tenant setting is not a UUID');
  return id;
}

/**
 * Runs fn in a tenant transaction on a pooled connection (reads; writes use the write
 * path). A read-only transaction is retried on connection loss and failover errors until
 * its deadline, so a database failover looks like latency to readers too.
 */
export async function withTenant<T>(
  pool: Pool,
  actor: Parameters<typeof beginSql>[0],
  fn: (client: PoolClient) => Promise<T>,
  opts: { readOnly?: boolean; deadlineMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.deadlineMs ?? DEFAULT_READ_DEADLINE_MS);
  for (let attempt = 1; ; attempt++) {
    try {
      return await tenantTransaction(pool, actor, fn, opts.readOnly ?? false);
    } catch (err) {
      if (!opts.readOnly || !isRetryable(err)) throw err;
      const wait = backoffMs(attempt);
      if (Date.now() + wait >= deadline) throw err;
      await sleep(wait);
    }
  }
}

const DEFAULT_READ_DEADLINE_MS = 15_000;

async function tenantTransaction<T>(
  pool: Pool,
  actor: Parameters<typeof beginSql>[0],
  fn: (client: PoolClient) => Promise<T>,
  readOnly: boolean,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const opened = (await client.query(openTenantSql(actor, readOnly))) as unknown as QueryResult[];
    rememberTenantMetadata(client, pool, actor.orgId, opened);
    const result = await fn(client);
    forgetTenantMetadata(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    if (isConnectionError(err)) broken = err as Error;
    else {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error;
      }
    }
    throw err;
  } finally {
    forgetTenantMetadata(client);
    client.release(broken);
  }
}
