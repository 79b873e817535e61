import type { Actor } from '../auth/actor.ts';
import { requireAdmin } from '../auth/permissions.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { type FieldError, validationError } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { type AuditEntry, chainHash, GENESIS } from './chain.ts';
import { sealOrganization } from './sealer.ts';

/** One audit entry as the API shows it: the hashed fields plus the chain links. */
export interface AuditEntryView extends AuditEntry {
  prevHash: string;
  hash: string;
}

export interface AuditPage {
  data: AuditEntryView[];
  nextCursor: string | null;
}

export type ChainDefect = 'seq_gap' | 'prev_hash_mismatch' | 'hash_mismatch' | 'head_mismatch';

export interface ChainVerification {
  valid: boolean;
  entries: number;
  head: string;
  /** Committed entries not linked into the chain yet (written, waiting for the sealer; normally 0 right after a read seals). */
  pending: number;
  firstBadEntry?: { seq: number; id: string | null; reason: ChainDefect; detail: string };
}

const COLUMNS = `seq, id, at, actor_id, actor_type, request_id, object, record_id, action, changes, context, prev_hash, hash`;

interface AuditRow {
  seq: string;
  id: string;
  at: Date;
  actor_id: string | null;
  actor_type: string;
  request_id: string;
  object: string;
  record_id: string;
  action: string;
  changes: Json;
  context: Json;
  prev_hash: string;
  hash: string;
}

function toView(r: AuditRow): AuditEntryView {
  return {
    seq: Number(r.seq),
    id: r.id,
    at: r.at.toISOString(),
    actorId: r.actor_id,
    actorType: r.actor_type,
    requestId: r.request_id,
    object: r.object,
    recordId: r.record_id,
    action: r.action,
    changes: r.changes,
    context: r.context,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

// ---------------------------------------------------------------------------------------
// GET /api/v1/audit
// ---------------------------------------------------------------------------------------

interface AuditFilter {
  object?: string;
  recordId?: string;
  actorId?: string;
  action?: string;
  from?: string;
  to?: string;
  limit: number;
  order: 'asc' | 'desc';
  afterSeq?: number;
}

const QUERY_KEYS = ['object', 'recordId', 'actorId', 'action', 'from', 'to', 'limit', 'cursor', 'order'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

export function encodeAuditCursor(seq: number, order: 'asc' | 'desc'): string {
  return Buffer.from(JSON.stringify({ s: seq, o: order })).toString('base64url');
}

function decodeAuditCursor(raw: string, order: 'asc' | 'desc'): number | undefined {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { s?: unknown; o?: unknown };
    if (typeof c.s === 'number' && Number.isSafeInteger(c.s) && c.s >= 0 && c.o === order) return c.s;
  } catch {
    /* reported below */
  }
  return undefined;
}

export function parseAuditQuery(query: Record<string, unknown>): AuditFilter {
  const errors: FieldError[] = [];
  const text = (k: string): string | undefined => {
    const v = query[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '' || v.length > 200) {
      errors.push({ path: k, message: 'must be given once, as a non-empty string of at most 200 characters' });
      return undefined;
    }
    return v;
  };
  for (const k of Object.keys(query)) {
    if (!(QUERY_KEYS as readonly string[]).includes(k)) errors.push({ path: k.slice(0, 100), message: 'unknown query parameter' });
  }
  const f: AuditFilter = { limit: 50, order: 'desc' };
  f.object = text('object');
  f.action = text('action');
  for (const k of ['recordId', 'actorId'] as const) {
    const v = text(k);
    if (v !== undefined && !isUuid(v)) errors.push({ path: k, message: 'must be a UUID' });
    else f[k] = v;
  }
  for (const k of ['from', 'to'] as const) {
    const v = text(k);
    if (v !== undefined && (!RFC3339.test(v) || Number.isNaN(Date.parse(v)))) {
      errors.push({ path: k, message: 'must be an RFC 3339 timestamp, e.g. 2025-01-31T12:00:00Z' });
    } else f[k] = v;
  }
  const order = text('order');
  if (order !== undefined && order !== 'asc' && order !== 'desc') errors.push({ path: 'order', message: 'must be asc or desc' });
  else if (order) f.order = order;
  const limit = text('limit');
  if (limit !== undefined) {
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) errors.push({ path: 'limit', message: 'must be an integer from 1 to 500' });
    else f.limit = Number(limit);
  }
  const cursor = text('cursor');
  if (cursor !== undefined) {
    const seq = decodeAuditCursor(cursor, f.order);
    if (seq === undefined) errors.push({ path: 'cursor', message: 'is not a cursor of this listing (use nextCursor as given, with the same order)' });
    else f.afterSeq = seq;
  }
  if (errors.length) throw validationError(errors);
  return f;
}

/** The organization's audit trail, newest first by default, in keyset pages by seq. */
export async function listAudit(pool: Pool, actor: Actor, query: Record<string, unknown>): Promise<AuditPage> {
  requireAdmin(actor);
  const f = parseAuditQuery(query);
  const params: unknown[] = [actor.orgId];
  const where = ['organization_id = $1'];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (f.object !== undefined) add('object = ?', f.object);
  if (f.recordId !== undefined) add('record_id = ?', f.recordId);
  if (f.actorId !== undefined) add('actor_id = ?', f.actorId);
  if (f.action !== undefined) add('action = ?', f.action);
  if (f.from !== undefined) add('at >= ?::timestamptz', f.from);
  if (f.to !== undefined) add('at < ?::timestamptz', f.to);
  if (f.afterSeq !== undefined) add(f.order === 'desc' ? 'seq < ?' : 'seq > ?', f.afterSeq);
  const sql = `SELECT ${COLUMNS} FROM audit_log WHERE ${where.join(' AND ')}
               ORDER BY seq ${f.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ${f.limit + 1}`;
  await sealOrganization(pool, actor.orgId);
  const rows = await withTenant(pool, actor, async (c) => (await c.query<AuditRow>(sql, params)).rows, { readOnly: true });
  const data = rows.slice(0, f.limit).map(toView);
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > f.limit && last ? encodeAuditCursor(last.seq, f.order) : null };
}

// ---------------------------------------------------------------------------------------
// GET /api/v1/audit/verify
// ---------------------------------------------------------------------------------------

export const VERIFY_BATCH = 1000;

/**
 * Recomputes the organization's chain from genesis in batches (memory stays constant).
 * The head is read first and only entries up to it are checked: a head and its entries
 * are written in one transaction, so everything up to the head is committed and visible,
 * and writers appending meanwhile do not disturb the check.
 */
export async function verifyAuditChain(pool: Pool, actor: Actor, batchSize = VERIFY_BATCH): Promise<ChainVerification> {
  requireAdmin(actor);
  await sealOrganization(pool, actor.orgId);
  return withTenant(pool, actor, (client) => verifyChain(client, actor.orgId, batchSize), { readOnly: true });
}

export async function verifyChain(client: PoolClient, orgId: string, batchSize = VERIFY_BATCH): Promise<ChainVerification> {
  const headRes = await client.query<{ seq: string; head_hash: string }>(
    'SELECT seq, head_hash FROM audit_heads WHERE organization_id = $1',
    [orgId],
  );
  const headSeq = headRes.rows[0] ? Number(headRes.rows[0].seq) : 0;
  const head = headRes.rows[0]?.head_hash ?? GENESIS;
  const pendingRes = await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_pending WHERE organization_id = $1', [orgId]);
  const pending = Number(pendingRes.rows[0].n);

  let prev = GENESIS;
  let expected = 1;
  for (;;) {
    const { rows } = await client.query<AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log WHERE organization_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
      [orgId, expected, headSeq, batchSize],
    );
    for (const row of rows) {
      const entry = toView(row);
      const bad = checkLink(entry, expected, prev);
      if (bad) {
        const entries = await countEntries(client, orgId, headSeq);
        return { valid: false, entries, head, pending, firstBadEntry: { seq: entry.seq, id: entry.id, ...bad } };
      }
      prev = entry.hash;
      expected += 1;
    }
    if (rows.length < batchSize) break;
  }
  const checked = expected - 1;
  if (checked !== headSeq || prev !== head) {
    return {
      valid: false,
      entries: checked,
      head,
      pending,
      firstBadEntry: {
        seq: Math.min(checked + 1, headSeq),
        id: null,
        reason: 'head_mismatch',
        detail: `the chain head says ${headSeq} entries ending in ${head.slice(0, 12)}…, the log has ${checked} ending in ${prev.slice(0, 12)}…`,
      },
    };
  }
  return { valid: true, entries: checked, head, pending };
}

function checkLink(entry: AuditEntryView, expectedSeq: number, prev: string): { reason: ChainDefect; detail: string } | undefined {
  if (entry.seq !== expectedSeq) {
    return { reason: 'seq_gap', detail: `entries ${expectedSeq}..${entry.seq - 1} are missing` };
  }
  if (entry.prevHash !== prev) {
    return { reason: 'prev_hash_mismatch', detail: 'the entry does not link to the hash of the entry before it' };
  }
  if (chainHash(prev, entry) !== entry.hash) {
    return { reason: 'hash_mismatch', detail: 'the entry was changed after it was written (its content no longer matches its hash)' };
  }
  return undefined;
}

async function countEntries(client: PoolClient, orgId: string, headSeq: number): Promise<number> {
  const res = await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_log WHERE organization_id = $1 AND seq <= $2', [
    orgId,
    headSeq,
  ]);
  return Number(res.rows[0].n);
}
