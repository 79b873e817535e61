import { newId } from '../ids.ts';
import { AppError } from '../http/errors.ts';
import { columnOf, RELATABLE_OBJECTS } from '../objects/definitions.ts';
import { type Json, sqlType } from '../objects/field-types.ts';
import type { ResolvedField, ResolvedObject } from '../objects/registry.ts';
import { type ApiRecord, type RecordValues, sameValue, searchTexts, toApiRecord, validateValues } from '../records/record-shape.ts';
import { emitDomainEvents } from '../records/records.service.ts';
import type { WriteTx } from '../write/write-path.ts';
import type { UpsertKey } from './mapping.ts';

/**
 * The batch variant of the write path's work: one transaction (run by executeWrite, so it
 * carries the audit chain, the outbox and a write receipt like any API write) applies up
 * to a few thousand rows with set-based SQL. Each record still gets its own audit entry,
 * with context { importId, row }; consumers get one `records.imported` event per batch
 * (docs/decisions/0007-bulk-import.md).
 */

export interface PreparedRow {
  /** CSV record number (the header is record 1). */
  row: number;
  line: number;
  values: RecordValues;
  key: string | null;
}

export interface RowError {
  row: number;
  line: number;
  field: string | null;
  message: string;
}

export interface BatchInput {
  importId: string;
  batch: number;
  obj: ResolvedObject;
  upsertKey: UpsertKey | null;
  rows: PreparedRow[];
  rejected: RowError[];
  rowsRead: number;
  /** Errors a job keeps (the rest are only counted). */
  maxStoredErrors: number;
}

export interface BatchOutcome {
  batch: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  [key: string]: Json;
}

/** Columns every object table has that imports set themselves. */
const KEY_SQL: Record<UpsertKey, string> = {
  externalId: 't.external_id',
  email: 'lower(t.email)',
  domain: 'lower(t.domain)',
};

const LOOKUP_TABLES = new Set<string>(RELATABLE_OBJECTS);

export async function applyBatch(tx: WriteTx, input: BatchInput): Promise<BatchOutcome> {
  const { obj } = input;
  const errors: RowError[] = [...input.rejected];
  const reject = (r: PreparedRow, field: string | null, message: string) => errors.push({ row: r.row, line: r.line, field, message });

  let rows = await checkReferences(tx, obj, input.rows, reject);

  // Upsert: find the live record each key names (locked for the rest of the batch).
  const toInsert: PreparedRow[] = [];
  const toUpdate: { r: PreparedRow; current: Record<string, unknown> }[] = [];
  if (input.upsertKey) {
    const keys = [...new Set(rows.map((r) => r.key).filter((k): k is string => k !== null))];
    const matches = new Map<string, Record<string, unknown>[]>();
    if (keys.length) {
      // Candidates by key from the tenant's index (migrations/0010_import_keys.sql), then
      // read and locked by id under row-level security, which decides what matches.
      const res = await tx.client.query(
        `SELECT t.*, ${KEY_SQL[input.upsertKey]} AS __key FROM ${obj.def.table} t
         WHERE t.id = ANY(ARRAY(SELECT c.id FROM basalt_upsert_candidates($1, $2, $3::text[]) c))
           AND t.deleted_at IS NULL AND ${KEY_SQL[input.upsertKey]} = ANY($3::text[])
         ORDER BY t.id FOR UPDATE`,
        [obj.def.table, input.upsertKey, keys],
      );
      for (const row of res.rows) {
        const k = String(row.__key);
        const list = matches.get(k);
        if (list) list.push(row);
        else matches.set(k, [row]);
      }
    }
    for (const r of rows) {
      const found = r.key === null ? undefined : matches.get(r.key);
      if (!found) toInsert.push(r);
      else if (found.length > 1) reject(r, input.upsertKey, `matches ${found.length} existing ${obj.def.name}; the upsert key must name one record`);
      else toUpdate.push({ r, current: found[0] });
    }
  } else {
    toInsert.push(...rows);
  }

  // New records: the create rules (required fields, defaults) of the JSON API.
  const inserts: { r: PreparedRow; values: RecordValues }[] = [];
  for (const r of toInsert) {
    try {
      inserts.push({ r, values: validateValues(obj, r.values, 'create') });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      for (const e of err.errors ?? [{ path: '', message: err.detail }]) reject(r, e.path.replace(/^\//, '') || null, e.message);
    }
  }
  rows = [];

  const createdIds = await insertRows(tx, input, inserts);
  const { updatedIds, unchanged } = await updateRows(tx, input, toUpdate);

  if (createdIds.length || updatedIds.length) {
    tx.emit({
      type: 'records.imported',
      object: obj.def.name,
      recordId: input.importId,
      payload: { importId: input.importId, batch: input.batch, created: createdIds, updated: updatedIds },
    });
  }

  errors.sort((a, b) => a.row - b.row);
  if (errors.length) {
    // Batches in flight together may each see room for a few more: the cap is approximate, the count exact.
    await tx.client.query(
      `INSERT INTO import_errors (organization_id, import_id, row_number, line, field, message)
       SELECT $1, $2, e.row, e.line, e.field, e.message FROM jsonb_to_recordset($3::jsonb) AS e(row bigint, line bigint, field text, message text)
       ORDER BY e.row
       LIMIT greatest(0, $4 - (SELECT count(*) FROM (SELECT 1 FROM import_errors WHERE import_id = $2 LIMIT $4) kept))`,
      [tx.actor.orgId, input.importId, JSON.stringify(errors.slice(0, input.maxStoredErrors)), input.maxStoredErrors],
    );
  }
  const outcome: BatchOutcome = {
    batch: input.batch,
    inserted: createdIds.length,
    updated: updatedIds.length,
    unchanged,
    rejected: errorRows(errors),
  };
  await tx.client.query(
    `UPDATE imports SET rows_read = rows_read + $2, rows_inserted = rows_inserted + $3, rows_updated = rows_updated + $4,
       rows_unchanged = rows_unchanged + $5, rows_rejected = rows_rejected + $6, batches = greatest(batches, $7), updated_at = now()
     WHERE id = $1`,
    [input.importId, input.rowsRead, outcome.inserted, outcome.updated, outcome.unchanged, outcome.rejected, input.batch],
  );
  return outcome;
}

/** Rows with several errors count once. */
function errorRows(errors: RowError[]): number {
  return new Set(errors.map((e) => e.row)).size;
}

/**
 * Every id a row points to must exist in the tenant (bulk: one query per target), and
 * only managers and admins may give records to someone else (as in the JSON API).
 */
async function checkReferences(
  tx: WriteTx,
  obj: ResolvedObject,
  rows: PreparedRow[],
  reject: (r: PreparedRow, field: string | null, message: string) => void,
): Promise<PreparedRow[]> {
  const wanted = new Map<string, Set<string>>();
  const want = (target: string, id: Json | undefined) => {
    if (typeof id !== 'string') return;
    const s = wanted.get(target) ?? new Set<string>();
    wanted.set(target, s);
    s.add(id);
  };
  const lookups = [...obj.fields.values()].filter((f) => f.type === 'lookup' && f.lookup && !f.readOnly);
  for (const r of rows) {
    for (const f of lookups) want(f.lookup as string, r.values[f.name]);
    if (obj.def.name === 'activities' && typeof r.values.relatedObject === 'string') want(r.values.relatedObject, r.values.relatedId);
  }
  const existing = new Map<string, Set<string>>();
  for (const [target, ids] of wanted) {
    const sql =
      target === 'users'
        ? "SELECT id FROM users WHERE id = ANY($1::uuid[]) AND status = 'active'"
        : LOOKUP_TABLES.has(target)
          ? `SELECT t.id FROM ${target} t WHERE t.id = ANY($1::uuid[]) AND t.deleted_at IS NULL`
          : null;
    if (!sql) continue;
    const res = await tx.client.query<{ id: string }>(sql, [[...ids]]);
    existing.set(target, new Set(res.rows.map((x) => x.id)));
  }
  const mayAssign = tx.actor.role === 'admin' || tx.actor.role === 'manager';
  return rows.filter((r) => {
    let ok = true;
    for (const f of lookups) {
      const v = r.values[f.name];
      if (typeof v !== 'string') continue;
      if (!existing.get(f.lookup as string)?.has(v)) {
        reject(r, f.name, f.lookup === 'users' ? 'is not an active user of this organization' : `no such ${f.lookup} record`);
        ok = false;
      }
    }
    const owner = r.values.ownerId;
    if (typeof owner === 'string' && owner !== tx.actor.userId && !mayAssign) {
      reject(r, 'ownerId', 'only managers and administrators may assign records to someone else');
      ok = false;
    }
    if (obj.def.name === 'activities' && r.values.relatedId != null) {
      const target = r.values.relatedObject;
      if (typeof target !== 'string') {
        reject(r, 'relatedObject', 'is required when relatedId is set');
        ok = false;
      } else if (!existing.get(target)?.has(String(r.values.relatedId))) {
        reject(r, 'relatedId', `no such ${target} record`);
        ok = false;
      }
    }
    return ok;
  });
}

interface ColumnSpec {
  field: ResolvedField;
  column: string;
}

function standardColumns(obj: ResolvedObject, names: Iterable<string>): ColumnSpec[] {
  const out: ColumnSpec[] = [];
  for (const name of names) {
    const field = obj.fields.get(name);
    if (!field || field.custom) continue;
    out.push({ field, column: columnOf(field) });
  }
  return out;
}

const SEARCH_SQL =
  "setweight(to_tsvector('simple', s.__a), 'A') || setweight(to_tsvector('simple', s.__b), 'B') || " +
  "setweight(to_tsvector('simple', s.__c), 'C') || setweight(to_tsvector('simple', s.__d), 'D')";

function recordsetColumns(cols: ColumnSpec[], extra: string): string {
  return [extra, ...cols.map((c) => `${c.column} ${sqlType(c.field.type)}`)].join(', ');
}

async function insertRows(tx: WriteTx, input: BatchInput, inserts: { r: PreparedRow; values: RecordValues }[]): Promise<string[]> {
  if (inserts.length === 0) return [];
  const { obj } = input;
  const names = new Set<string>();
  for (const { values } of inserts) for (const k of Object.keys(values)) names.add(k);
  names.delete('ownerId');
  const cols = standardColumns(obj, names);
  const ids: string[] = [];
  const data = inserts.map(({ r, values }) => {
    const id = newId();
    ids.push(id);
    const custom: RecordValues = {};
    const row: Record<string, Json> = { __id: id, owner_id: (values.ownerId as string | undefined) ?? null };
    for (const [k, v] of Object.entries(values)) {
      const f = obj.fields.get(k) as ResolvedField;
      if (f.custom) custom[k] = v;
    }
    for (const c of cols) row[c.column] = values[c.field.name] ?? null;
    const texts = searchTexts(obj, { ...values, ownerId: (values.ownerId as string | undefined) ?? tx.actor.userId });
    row.__custom = custom;
    row.__a = texts.A;
    row.__b = texts.B;
    row.__c = texts.C;
    row.__d = texts.D;
    tx.audit({
      object: obj.def.name,
      recordId: id,
      action: 'create',
      changes: Object.entries(values).map(([field, v]) => ({ field, old: null, new: v })),
      context: { version: 1, importId: input.importId, row: r.row },
    });
    return row;
  });
  await tx.client.query(
    `INSERT INTO ${obj.def.table} AS t (id, organization_id, owner_id, created_by, updated_by, created_at, updated_at, custom, search_vector${cols.map((c) => `, ${c.column}`).join('')})
     SELECT s.__id, $1, coalesce(s.owner_id, $2), $2, $2, $3, $3, s.__custom, ${SEARCH_SQL}${cols.map((c) => `, s.${c.column}`).join('')}
     FROM json_to_recordset($4::json) AS s(${recordsetColumns(cols, '__id uuid, owner_id uuid, __custom jsonb, __a text, __b text, __c text, __d text')})`,
    [tx.actor.orgId, tx.actor.userId, tx.at, JSON.stringify(data)],
  );
  return ids;
}

async function updateRows(
  tx: WriteTx,
  input: BatchInput,
  matched: { r: PreparedRow; current: Record<string, unknown> }[],
): Promise<{ updatedIds: string[]; unchanged: number }> {
  if (matched.length === 0) return { updatedIds: [], unchanged: 0 };
  const { obj } = input;
  let unchanged = 0;
  const changedNames = new Set<string>();
  const work: { id: string; next: number; merged: ApiRecord; changed: { field: string; old: Json; new: Json }[]; row: number }[] = [];
  for (const { r, current: row } of matched) {
    const current = toApiRecord(obj, row);
    const changed = Object.entries(r.values)
      .filter(([f, v]) => !sameValue(v, current[f]))
      .map(([field, v]) => ({ field, old: current[field] ?? null, new: v }));
    if (changed.length === 0) {
      unchanged++;
      continue;
    }
    for (const c of changed) changedNames.add(c.field);
    work.push({ id: String(row.id), next: Number(row.version) + 1, merged: { ...current, ...r.values }, changed, row: r.row });
  }
  if (work.length === 0) return { updatedIds: [], unchanged };
  const cols = standardColumns(obj, changedNames);
  const data = work.map((w) => {
    const custom: RecordValues = {};
    for (const c of w.changed) if ((obj.fields.get(c.field) as ResolvedField).custom) custom[c.field] = c.new;
    const texts = searchTexts(obj, w.merged);
    const out: Record<string, Json> = {
      __id: w.id,
      __custom: custom,
      __fv: Object.fromEntries(w.changed.map((c) => [c.field, w.next])),
      __a: texts.A,
      __b: texts.B,
      __c: texts.C,
      __d: texts.D,
    };
    for (const c of cols) out[c.column] = w.merged[c.field.name] ?? null;
    tx.audit({
      object: obj.def.name,
      recordId: w.id,
      action: 'update',
      changes: w.changed,
      context: { version: w.next, importId: input.importId, row: w.row },
    });
    const record: ApiRecord = { ...w.merged, version: w.next, updatedAt: tx.at, updatedBy: tx.actor.userId };
    emitDomainEvents(tx, obj, w.id, w.changed, record);
    return out;
  });
  await tx.client.query(
    `UPDATE ${obj.def.table} AS t SET version = t.version + 1, updated_at = $2, updated_by = $1,
       custom = t.custom || s.__custom, field_versions = t.field_versions || s.__fv, search_vector = ${SEARCH_SQL}${cols.map((c) => `, ${c.column} = s.${c.column}`).join('')}
     FROM json_to_recordset($3::json) AS s(${recordsetColumns(cols, '__id uuid, __custom jsonb, __fv jsonb, __a text, __b text, __c text, __d text')})
     WHERE t.id = s.__id`,
    [tx.actor.userId, tx.at, JSON.stringify(data)],
  );
  return { updatedIds: work.map((w) => w.id), unchanged };
}
