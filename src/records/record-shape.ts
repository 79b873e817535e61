import type { PoolClient } from '../db/pool.ts';
import { type FieldError, validationError } from '../http/errors.ts';
import { columnOf } from '../objects/definitions.ts';
import { FieldValueError, type Json, normalizeValue } from '../objects/field-types.ts';
import type { ResolvedField, ResolvedObject } from '../objects/registry.ts';

export type RecordValues = Record<string, Json>;
export type ApiRecord = Record<string, Json>;

/** A database row as the API shows it: camelCase, custom fields flattened, exact decimals. */
export function toApiRecord(obj: ResolvedObject, row: Record<string, unknown>, only?: Set<string>): ApiRecord {
  const out: ApiRecord = {};
  for (const f of obj.fields.values()) {
    if (only && !only.has(f.name)) continue;
    out[f.name] = fieldValue(f, row);
  }
  return out;
}

/** One field of a database row as the API shows it. */
export function fieldValue(f: ResolvedField, row: Record<string, unknown>): Json {
  if (f.custom) {
    const custom = (row.custom ?? {}) as Record<string, Json>;
    // hasOwn: a custom field may be named like an Object.prototype member ("constructor").
    return Object.hasOwn(custom, f.name) ? custom[f.name] : null;
  }
  return fromColumn(row[columnOf(f)]);
}

function fromColumn(v: unknown): Json {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return v.toISOString();
  return v as Json;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a create or update body against the object's fields: unknown fields,
 * read-only fields, wrong types and missing required fields are all reported at once.
 */
export function validateValues(obj: ResolvedObject, body: unknown, mode: 'create' | 'update'): RecordValues {
  if (!isPlainObject(body)) {
    throw validationError([{ path: '', message: 'the request body must be a JSON object' }]);
  }
  const errors: FieldError[] = [];
  const values: RecordValues = {};
  for (const [name, raw] of Object.entries(body)) {
    const field = obj.fields.get(name);
    if (!field) {
      errors.push({ path: `/${name.slice(0, 100)}`, message: `unknown field for ${obj.def.name}` });
      continue;
    }
    if (field.readOnly) {
      errors.push({ path: `/${name}`, message: 'is read-only' });
      continue;
    }
    try {
      values[name] = normalizeValue(field, raw);
    } catch (err) {
      if (!(err instanceof FieldValueError)) throw err;
      errors.push({ path: `/${name}`, message: err.message });
    }
  }
  if (mode === 'create') {
    for (const f of obj.fields.values()) {
      if (f.readOnly || Object.hasOwn(values, f.name)) continue;
      if (f.defaultValue !== undefined) values[f.name] = f.defaultValue;
      else if (f.required) errors.push({ path: `/${f.name}`, message: 'is required' });
    }
  }
  if (errors.length) throw validationError(errors);
  return values;
}

const LOOKUP_TABLES: Record<string, string> = {
  accounts: 'accounts',
  contacts: 'contacts',
  leads: 'leads',
  opportunities: 'opportunities',
  cases: 'cases',
  activities: 'activities',
};

/** Every id a record points to must exist in the tenant and be visible to the caller. */
export async function checkReferences(
  client: PoolClient,
  obj: ResolvedObject,
  values: RecordValues,
  /** On update: the record as it is, for rules that span fields (relatedObject + relatedId). */
  current?: ApiRecord,
): Promise<void> {
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value === null) continue;
    const f = obj.fields.get(name) as ResolvedField;
    if (f.type !== 'lookup') continue;
    if (f.lookup === 'users') {
      const res = await client.query("SELECT 1 FROM users WHERE id = $1 AND status = 'active'", [value]);
      if (res.rowCount === 0) errors.push({ path: `/${name}`, message: 'is not an active user of this organization' });
      continue;
    }
    const table = f.lookup ? LOOKUP_TABLES[f.lookup] : undefined;
    if (!table) continue;
    const res = await client.query(`SELECT 1 FROM ${table} t WHERE t.id = $1 AND t.deleted_at IS NULL`, [value]);
    if (res.rowCount === 0) errors.push({ path: `/${name}`, message: `no such ${f.lookup} record` });
  }
  if (obj.def.name === 'activities' && ('relatedObject' in values || 'relatedId' in values)) {
    // A PATCH may change either half of the pair; the other half is the stored one.
    const relatedObject = 'relatedObject' in values ? values.relatedObject : current?.relatedObject;
    const relatedId = 'relatedId' in values ? values.relatedId : current?.relatedId;
    if (relatedId !== undefined && relatedId !== null) {
      if (typeof relatedObject !== 'string') {
        errors.push({ path: '/relatedObject', message: 'is required when relatedId is set' });
      } else {
        const table = LOOKUP_TABLES[relatedObject];
        const res = await client.query(`SELECT 1 FROM ${table} t WHERE t.id = $1 AND t.deleted_at IS NULL`, [relatedId]);
        if (res.rowCount === 0) errors.push({ path: '/relatedId', message: `no such ${relatedObject} record` });
      }
    }
  }
  if (errors.length) throw validationError(errors);
}

/** Text per full-text weight, from every searchable field (standard and custom). */
export function searchTexts(obj: ResolvedObject, record: ApiRecord): Record<'A' | 'B' | 'C' | 'D', string> {
  const out = { A: '', B: '', C: '', D: '' };
  for (const f of obj.fields.values()) {
    if (!f.searchWeight) continue;
    const v = record[f.name];
    if (v === null || v === undefined) continue;
    out[f.searchWeight] += ` ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`;
  }
  return out;
}

export const SEARCH_VECTOR_SQL = (p: number) =>
  `setweight(to_tsvector('simple', $${p}), 'A') || setweight(to_tsvector('simple', $${p + 1}), 'B') || ` +
  `setweight(to_tsvector('simple', $${p + 2}), 'C') || setweight(to_tsvector('simple', $${p + 3}), 'D')`;

/** Splits validated values into SQL columns and custom-field jsonb. */
export function splitValues(obj: ResolvedObject, values: RecordValues): { columns: [string, Json][]; custom: RecordValues } {
  const columns: [string, Json][] = [];
  const custom: RecordValues = {};
  for (const [name, v] of Object.entries(values)) {
    const f = obj.fields.get(name) as ResolvedField;
    if (f.custom) custom[name] = v;
    else columns.push([columnOf(f), v]);
  }
  return { columns, custom };
}

/** Compares API values for change detection (decimals and timestamps are normalised already). */
export function sameValue(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
