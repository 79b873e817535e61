import { newId } from '../ids.ts';
import { sealOrganization } from '../audit/sealer.ts';
import type { Actor } from '../auth/actor.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, notFound, validationError } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { loadObject, type ResolvedObject } from '../objects/registry.ts';
import { sqlState } from '../write/retry.ts';
import { executeWrite, fingerprint, type WritePathDeps, type WriteResult, type WriteTx } from '../write/write-path.ts';
import { encodeCursor, listScope, orderAndKeyset, parseListQuery } from './list-query.ts';
import {
  type ApiRecord,
  checkReferences,
  type RecordValues,
  SEARCH_VECTOR_SQL,
  sameValue,
  searchTexts,
  splitValues,
  toApiRecord,
  validateValues,
} from './record-shape.ts';

export interface RequestCtx {
  actor: Actor;
  requestId: string;
  idempotencyKey?: string;
  deadlineAt: number;
}

export interface RecordsDeps extends WritePathDeps {
  pool: Pool;
}

export function etag(version: number | string): string {
  return `"${version}"`;
}

/** Parses If-Match: `"3"`, `3` or `W/"3"`. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!m) throw new AppError('bad_request', 'If-Match must be the ETag of the record, e.g. "3".');
  return Number(m[1]);
}

function checkId(id: string, object: string): void {
  if (!isUuid(id)) throw notFound(`The ${object} record`);
}

export function write(
  deps: RecordsDeps,
  ctx: RequestCtx,
  route: string,
  body: unknown,
  work: (tx: WriteTx) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>,
): Promise<WriteResult> {
  return executeWrite(
    deps,
    {
      actor: ctx.actor,
      requestId: ctx.requestId,
      idempotencyKey: ctx.idempotencyKey,
      requestFingerprint: fingerprint(route.split(' ')[0], route, body),
      deadlineAt: ctx.deadlineAt,
    },
    work,
  );
}

async function selectRow(
  client: PoolClient,
  obj: ResolvedObject,
  id: string,
  opts: { forUpdate?: boolean; includeDeleted?: boolean } = {},
): Promise<Record<string, unknown> | undefined> {
  const res = await client.query(
    `SELECT t.* FROM ${obj.def.table} t WHERE t.id = $1${opts.includeDeleted ? '' : ' AND t.deleted_at IS NULL'}${opts.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return res.rows[0];
}

/** Locks a record for change; distinguishes "not visible" (404) from "visible, not yours to edit" (403). */
async function lockForChange(
  client: PoolClient,
  obj: ResolvedObject,
  id: string,
  includeDeleted: boolean,
): Promise<Record<string, unknown>> {
  const row = await selectRow(client, obj, id, { forUpdate: true, includeDeleted });
  if (row) return row;
  const visible = await selectRow(client, obj, id, { includeDeleted });
  if (visible) throw new AppError('forbidden', `You may see this ${obj.def.singular} but not change it.`);
  throw notFound(`The ${obj.def.singular}`);
}

export async function insertRecord(tx: WriteTx, obj: ResolvedObject, values: RecordValues): Promise<ApiRecord> {
  const id = newId();
  const ownerId = (values.ownerId as string | undefined) ?? tx.actor.userId;
  const { columns, custom } = splitValues(obj, { ...values, ownerId });
  const draft: ApiRecord = { ...values, ownerId };
  const texts = searchTexts(obj, draft);
  const params: unknown[] = [id, tx.actor.orgId, tx.actor.userId, JSON.stringify(custom), texts.A, texts.B, texts.C, texts.D, tx.at];
  const names = ['id', 'organization_id', 'created_by', 'updated_by', 'custom', 'search_vector', 'created_at', 'updated_at'];
  const exprs = ['$1', '$2', '$3', '$3', '$4::jsonb', SEARCH_VECTOR_SQL(5), '$9', '$9'];
  for (const [col, v] of columns) {
    params.push(v);
    names.push(col);
    exprs.push(`$${params.length}`);
  }
  const res = await tx.client.query(
    `INSERT INTO ${obj.def.table} AS t (${names.join(', ')}) VALUES (${exprs.join(', ')}) RETURNING t.*`,
    params,
  );
  const record = toApiRecord(obj, res.rows[0]);
  tx.audit({
    object: obj.def.name,
    recordId: id,
    action: 'create',
    changes: Object.entries(values).map(([field, v]) => ({ field, old: null, new: v })),
    context: { version: 1 },
  });
  tx.emit({ type: 'record.created', object: obj.def.name, recordId: id, payload: { version: 1, record } });
  return record;
}

export interface UpdateOutcome {
  record: ApiRecord;
  changed: { field: string; old: Json; new: Json }[];
}

/**
 * Applies field changes to a locked row with field-level merge: a stale If-Match passes
 * when none of the fields being written changed since that version.
 */
export async function updateRecord(
  tx: WriteTx,
  obj: ResolvedObject,
  row: Record<string, unknown>,
  values: RecordValues,
  ifMatch: number | undefined,
  action = 'update',
): Promise<UpdateOutcome> {
  const current = toApiRecord(obj, row);
  const version = Number(row.version);
  const fieldVersions = (row.field_versions ?? {}) as Record<string, number>;
  if (ifMatch !== undefined && ifMatch !== version) {
    if (ifMatch > version) {
      throw new AppError('version_conflict', `Version ${ifMatch} of this record does not exist; it is at ${version}.`, undefined, {
        conflicts: [],
        current,
      });
    }
    const conflicts = Object.keys(values)
      .filter((f) => (fieldVersions[f] ?? 1) > ifMatch && !sameValue(values[f], current[f]))
      .map((f) => ({ field: f, yours: values[f], theirs: current[f] ?? null }));
    if (conflicts.length) {
      throw new AppError(
        'version_conflict',
        `Someone changed ${conflicts.map((c) => c.field).join(', ')} after version ${ifMatch}; nothing was written.`,
        undefined,
        { conflicts, current },
        { ETag: etag(version) },
      );
    }
  }
  const changed = Object.entries(values)
    .filter(([f, v]) => !sameValue(v, current[f]))
    .map(([field, v]) => ({ field, old: current[field] ?? null, new: v }));
  if (changed.length === 0) return { record: current, changed };

  const next = version + 1;
  const changedValues: RecordValues = Object.fromEntries(changed.map((c) => [c.field, c.new]));
  const { columns, custom } = splitValues(obj, changedValues);
  const merged: ApiRecord = { ...current, ...changedValues };
  const texts = searchTexts(obj, merged);
  const params: unknown[] = [
    row.id,
    tx.actor.userId,
    JSON.stringify(custom),
    JSON.stringify(Object.fromEntries(changed.map((c) => [c.field, next]))),
    texts.A,
    texts.B,
    texts.C,
    texts.D,
    tx.at,
  ];
  const sets = [
    'version = t.version + 1',
    'updated_at = $9',
    'updated_by = $2',
    'custom = t.custom || $3::jsonb',
    'field_versions = t.field_versions || $4::jsonb',
    `search_vector = ${SEARCH_VECTOR_SQL(5)}`,
  ];
  for (const [col, v] of columns) {
    params.push(v);
    sets.push(`${col} = $${params.length}`);
  }
  const res = await tx.client.query(`UPDATE ${obj.def.table} AS t SET ${sets.join(', ')} WHERE t.id = $1 RETURNING t.*`, params);
  const record = toApiRecord(obj, res.rows[0]);
  tx.audit({ object: obj.def.name, recordId: String(row.id), action, changes: changed, context: { version: next } });
  tx.emit({
    type: 'record.updated',
    object: obj.def.name,
    recordId: String(row.id),
    payload: { version: next, changes: changed, record },
  });
  emitDomainEvents(tx, obj, String(row.id), changed, record);
  return { record, changed };
}

export function emitDomainEvents(tx: WriteTx, obj: ResolvedObject, id: string, changed: UpdateOutcome['changed'], record: ApiRecord): void {
  for (const c of changed) {
    if (obj.def.name === 'opportunities' && c.field === 'stage') {
      tx.emit({ type: 'opportunity.stage_changed', object: obj.def.name, recordId: id, payload: { from: c.old, to: c.new, record } });
    }
    if (obj.def.name === 'cases' && c.field === 'ownerId') {
      tx.emit({ type: 'case.assigned', object: obj.def.name, recordId: id, payload: { from: c.old, to: c.new, record } });
    }
  }
}

// ---------------------------------------------------------------------------------------

export async function createRecord(deps: RecordsDeps, ctx: RequestCtx, object: string, body: unknown): Promise<WriteResult> {
  requirePermission(ctx.actor, object, 'create');
  return write(deps, ctx, `POST /${object}`, body, async (tx) => {
    const obj = await loadObject(tx.client, object);
    const values = validateValues(obj, body, 'create');
    await checkOwnerAssignment(tx, values);
    await checkReferences(tx.client, obj, values);
    const record = await insertRecord(tx, obj, values);
    return {
      status: 201,
      body: record,
      headers: { ETag: etag(1), Location: `/api/v1/${object}/${record.id}` },
    };
  });
}

/** Who may give a record to someone else: admins and managers; others only to themselves. */
async function checkOwnerAssignment(tx: WriteTx, values: RecordValues): Promise<void> {
  const owner = values.ownerId;
  if (owner === undefined || owner === null || owner === tx.actor.userId) return;
  if (tx.actor.role === 'admin') return;
  if (tx.actor.role !== 'manager') {
    throw new AppError('forbidden', 'Only managers and administrators may assign records to someone else.');
  }
  // Row-level security lets a manager see their team's records only (under private
  // sharing); a record given outside that would fail the INSERT/UPDATE ... RETURNING
  // with an RLS error (a 500). Say so instead.
  const res = await tx.client.query<{ ok: boolean }>(
    `SELECT coalesce((SELECT o.sharing_default <> 'private' FROM organizations o WHERE o.id = basalt_org()), false)
         OR EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.team_id = basalt_team()) AS ok`,
    [owner],
  );
  if (!res.rows[0]?.ok) {
    throw new AppError('forbidden', 'Managers may assign records only to members of their own team.', [
      { path: '/ownerId', message: 'is not a member of your team' },
    ]);
  }
}

export async function patchRecord(
  deps: RecordsDeps,
  ctx: RequestCtx,
  object: string,
  id: string,
  body: unknown,
  ifMatch: number | undefined,
): Promise<WriteResult> {
  requirePermission(ctx.actor, object, 'update');
  checkId(id, object);
  return write(deps, ctx, `PATCH /${object}/${id} ${ifMatch ?? ''}`, body, async (tx) => {
    const obj = await loadObject(tx.client, object);
    const values = validateValues(obj, body, 'update');
    if (object === 'leads' && 'status' in values && values.status === 'converted') {
      throw new AppError('validation_failed', 'Use POST /api/v1/leads/{id}/convert to convert a lead.', [
        { path: '/status', message: 'is set by lead conversion' },
      ]);
    }
    const row = await lockForChange(tx.client, obj, id, false);
    if ('ownerId' in values && values.ownerId !== row.owner_id) {
      // Write access through sharing (public_read_write) is not ownership: only the
      // owner, a manager or an admin may transfer a record (else a rep could claim any).
      const elevated = tx.actor.role === 'admin' || tx.actor.role === 'manager';
      if (!elevated && row.owner_id !== tx.actor.userId) {
        throw new AppError('forbidden', `Only the owner, a manager or an administrator may reassign this ${obj.def.singular}.`);
      }
      await checkOwnerAssignment(tx, values);
    }
    await checkReferences(tx.client, obj, values, toApiRecord(obj, row));
    if (object === 'cases' && 'status' in values) {
      // Closing stamps closedAt; reopening clears it.
      const closing = values.status === 'closed' || values.status === 'resolved';
      const closedAt = closing ? (row.closed_at ? (row.closed_at as Date).toISOString() : tx.at) : null;
      Object.assign(values, { closedAt });
    }
    const { record } = await updateRecord(tx, obj, row, values, ifMatch);
    return { status: 200, body: record, headers: { ETag: etag(record.version as number) } };
  });
}

export async function deleteRecord(
  deps: RecordsDeps,
  ctx: RequestCtx,
  object: string,
  id: string,
  ifMatch: number,
): Promise<WriteResult> {
  requirePermission(ctx.actor, object, 'delete');
  checkId(id, object);
  return write(deps, ctx, `DELETE /${object}/${id} ${ifMatch}`, null, async (tx) => {
    const obj = await loadObject(tx.client, object);
    const row = await lockForChange(tx.client, obj, id, false);
    const version = Number(row.version);
    if (ifMatch !== version) {
      throw new AppError(
        'version_conflict',
        `The record changed after version ${ifMatch} (it is at ${version}); look at it again before deleting.`,
        undefined,
        { conflicts: [], current: toApiRecord(obj, row) },
        { ETag: etag(version) },
      );
    }
    await setDeleted(tx, obj, row, true);
    return { status: 204, body: null };
  });
}

export async function restoreRecord(deps: RecordsDeps, ctx: RequestCtx, object: string, id: string): Promise<WriteResult> {
  requirePermission(ctx.actor, object, 'delete');
  checkId(id, object);
  return write(deps, ctx, `POST /${object}/${id}/restore`, null, async (tx) => {
    const obj = await loadObject(tx.client, object);
    const row = await lockForChange(tx.client, obj, id, true);
    const record = row.deleted_at ? await setDeleted(tx, obj, row, false) : toApiRecord(obj, row);
    return { status: 200, body: record, headers: { ETag: etag(record.version as number) } };
  });
}

async function setDeleted(tx: WriteTx, obj: ResolvedObject, row: Record<string, unknown>, deleted: boolean): Promise<ApiRecord> {
  const res = await tx.client.query(
    `UPDATE ${obj.def.table} AS t SET deleted_at = ${deleted ? '$2::timestamptz' : 'NULL'}, version = t.version + 1,
       updated_at = $2, updated_by = $3 WHERE t.id = $1 RETURNING t.*`,
    [row.id, tx.at, tx.actor.userId],
  );
  const record = toApiRecord(obj, res.rows[0]);
  const action = deleted ? 'delete' : 'restore';
  tx.audit({
    object: obj.def.name,
    recordId: String(row.id),
    action,
    changes: [{ field: 'deletedAt', old: deleted ? null : (row.deleted_at as Date).toISOString(), new: deleted ? tx.at : null }],
    context: { version: record.version },
  });
  tx.emit({
    type: deleted ? 'record.deleted' : 'record.restored',
    object: obj.def.name,
    recordId: String(row.id),
    payload: { version: record.version, record },
  });
  return record;
}

// ---------------------------------------------------------------------------------------

export async function getRecord(
  pool: Pool,
  actor: Actor,
  object: string,
  id: string,
  includeDeleted: boolean,
): Promise<ApiRecord> {
  requirePermission(actor, object, 'read');
  checkId(id, object);
  return withTenant(pool, actor, async (client) => {
    const obj = await loadObject(client, object);
    const row = await selectRow(client, obj, id, { includeDeleted });
    if (!row) throw notFound(`The ${obj.def.singular}`);
    return toApiRecord(obj, row);
  });
}

export async function listRecords(
  pool: Pool,
  actor: Actor,
  object: string,
  query: Record<string, unknown>,
): Promise<{ data: ApiRecord[]; nextCursor: string | null }> {
  requirePermission(actor, object, 'read');
  return withTenant(
    pool,
    actor,
    async (client) => {
      const obj = await loadObject(client, object);
      const q = parseListQuery(obj, query);
      const { where, params, param } = listScope(q, actor.orgId);
      const { orderBy, keyset, keyExprs } = orderAndKeyset(q, param);
      if (keyset) where.push(keyset);
      const sql = `SELECT t.*, ${keyExprs.map((e, i) => `${e} AS __k${i}`).join(', ')}
        FROM ${obj.def.table} t WHERE ${where.join(' AND ')} ORDER BY ${orderBy} LIMIT ${q.limit + 1}`;
      const res = await client.query(sql, params).catch((err: unknown) => {
        // A forged cursor value that does not cast to its key's type (e.g. "abc" for a number).
        if (q.cursor && sqlState(err)?.startsWith('22')) {
          throw validationError([{ path: 'cursor', message: 'invalid cursor' }], 'The cursor is invalid; start again without a cursor.');
        }
        throw err;
      });
      const rows = res.rows.slice(0, q.limit);
      const last = rows[rows.length - 1];
      const nextCursor =
        res.rows.length > q.limit && last
          ? encodeCursor(
              q.sortSignature,
              keyExprs.map((_, i) => last[`__k${i}`] as string | null),
            )
          : null;
      return { data: rows.map((r) => toApiRecord(obj, r, q.only ?? undefined)), nextCursor };
    },
    { readOnly: true },
  );
}

export async function recordHistory(
  pool: Pool,
  actor: Actor,
  object: string,
  id: string,
): Promise<{ data: Record<string, Json>[] }> {
  requirePermission(actor, object, 'read');
  checkId(id, object);
  // History reads the audit chain: link what is committed first (src/audit/sealer.ts).
  await sealOrganization(pool, actor.orgId);
  return withTenant(
    pool,
    actor,
    async (client) => {
      const obj = await loadObject(client, object);
      if (!(await selectRow(client, obj, id, { includeDeleted: true }))) throw notFound(`The ${obj.def.singular}`);
      const res = await client.query(
        `SELECT seq, at, actor_id, actor_type, request_id, action, changes, context FROM audit_log
         WHERE record_id = $1 AND object = $2 ORDER BY seq DESC LIMIT 1000`,
        [id, object],
      );
      const data: Record<string, Json>[] = [];
      for (const r of res.rows) {
        for (const c of r.changes as { field: string; old: Json; new: Json }[]) {
          data.push({
            at: (r.at as Date).toISOString(),
            actorId: r.actor_id,
            actorType: r.actor_type,
            action: r.action,
            field: c.field,
            oldValue: c.old,
            newValue: c.new,
            version: (r.context as { version?: number }).version ?? null,
            requestId: r.request_id,
            auditSeq: Number(r.seq),
          });
        }
      }
      return { data };
    },
    { readOnly: true },
  );
}
