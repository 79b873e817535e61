import { createHash } from 'node:crypto';
import { AppError, type FieldError, validationError } from '../http/errors.ts';
import { FieldValueError, FILTER_OPS, type FilterOp, type Json, opsFor, parseFilterOperand, sqlType } from '../objects/field-types.ts';
import type { ResolvedField, ResolvedObject } from '../objects/registry.ts';

/**
 * Lists: filters, sort, keyset cursor, projection. Everything a client may name is checked
 * against the object's fields; SQL is built only from those declarations, values travel as
 * parameters.
 */

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export interface SortKey {
  field: ResolvedField;
  desc: boolean;
}

export interface ListQuery {
  where: string[];
  params: unknown[];
  sort: SortKey[];
  /** Direction of the id tie-breaker: as named in `sort`, else the first key's. */
  idDesc: boolean;
  limit: number;
  cursor: string[] | null;
  sortSignature: string;
  only: Set<string> | null;
  includeDeleted: boolean;
}

/**
 * The rows a list-shaped query (list, export, count, aggregate) reads: the tenant (written out
 * as well as enforced by row-level security, so the planner picks the tenant's indexes), the
 * filters, and live records unless deleted ones were asked for. `param` appends further
 * parameters after the filters' own.
 */
export function listScope(
  q: Pick<ListQuery, 'where' | 'params' | 'includeDeleted'>,
  orgId: string,
): { where: string[]; params: unknown[]; param: (v: unknown) => string } {
  const params = [...q.params];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where = [`t.organization_id = ${param(orgId)}`, ...q.where];
  if (!q.includeDeleted) where.push('t.deleted_at IS NULL');
  return { where, params, param };
}

const KNOWN_PARAMS = new Set(['sort', 'limit', 'cursor', 'fields', 'deleted']);

export function parseListQuery(obj: ResolvedObject, query: Record<string, unknown>): ListQuery {
  const errors: FieldError[] = [];
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };

  for (const [key, raw] of Object.entries(query)) {
    if (KNOWN_PARAMS.has(key)) {
      if (typeof raw !== 'string') errors.push({ path: key, message: 'must be given once' });
      continue;
    }
    const m = /^filter\[([^\]]+)\](?:\[([^\]]+)\])?$/.exec(key);
    if (!m) {
      errors.push({ path: key.slice(0, 100), message: 'unknown query parameter' });
      continue;
    }
    const [, fieldName, opName = 'eq'] = m;
    const path = `filter[${fieldName}][${opName}]`.slice(0, 200);
    const field = obj.fields.get(fieldName);
    if (!field) {
      errors.push({ path, message: `unknown field for ${obj.def.name}` });
      continue;
    }
    if (!(FILTER_OPS as readonly string[]).includes(opName) || !opsFor(field.type).includes(opName as FilterOp)) {
      errors.push({ path, message: `unknown operator for a ${field.type} field; use one of ${opsFor(field.type).join(', ')}` });
      continue;
    }
    if (typeof raw !== 'string') {
      errors.push({ path, message: 'must be given once' });
      continue;
    }
    try {
      where.push(filterSql(field, opName as FilterOp, raw, param));
    } catch (err) {
      if (!(err instanceof FieldValueError)) throw err;
      errors.push({ path, message: err.message });
    }
  }

  const { keys: sort, idDesc } = parseSort(obj, typeof query.sort === 'string' ? query.sort : obj.def.defaultSort, errors);

  let limit = DEFAULT_LIMIT;
  if (typeof query.limit === 'string') {
    if (!/^\d{1,4}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > MAX_LIMIT) {
      errors.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
    } else limit = Number(query.limit);
  }

  let only: Set<string> | null = null;
  if (typeof query.fields === 'string') {
    only = new Set(['id', 'version']);
    for (const name of query.fields.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!obj.fields.has(name)) errors.push({ path: 'fields', message: `unknown field "${name.slice(0, 100)}"` });
      only.add(name);
    }
  }

  let includeDeleted = false;
  if (typeof query.deleted === 'string') {
    if (query.deleted !== 'true' && query.deleted !== 'false') errors.push({ path: 'deleted', message: 'must be true or false' });
    includeDeleted = query.deleted === 'true';
  }

  const sortSignature = createHash('sha256')
    .update([...sort.map((k) => `${k.desc ? '-' : ''}${k.field.name}`), idDesc ? '-id' : 'id'].join(','))
    .digest('base64url')
    .slice(0, 12);
  let cursor: string[] | null = null;
  if (typeof query.cursor === 'string' && query.cursor !== '') {
    cursor = decodeCursor(query.cursor, sortSignature, sort.length + 1);
  }
  if (errors.length) throw validationError(errors);
  return { where, params, sort, idDesc, limit, cursor, sortSignature, only, includeDeleted };
}

function filterSql(field: ResolvedField, op: FilterOp, raw: string, param: (v: unknown) => string): string {
  const cast = sqlType(field.type);
  const expr = field.sql;
  const typed = (v: Json) => `${param(v)}::${cast}`;
  switch (op) {
    case 'isNull':
      if (raw !== 'true' && raw !== 'false') throw new FieldValueError('must be true or false');
      return raw === 'true' ? `${expr} IS NULL` : `${expr} IS NOT NULL`;
    case 'in': {
      const parts = raw.split(',');
      if (parts.length > 500) throw new FieldValueError('may list at most 500 values');
      const values = parts.map((p) => parseFilterOperand(field, p.trim()));
      return `${expr} = ANY(${param(values)}::${cast}[])`;
    }
    case 'contains':
      return `${expr} ILIKE ${param(`%${escapeLike(checkText(raw))}%`)}`;
    case 'startsWith':
      return `${expr} ILIKE ${param(`${escapeLike(checkText(raw))}%`)}`;
    case 'eq':
      return `${expr} = ${typed(parseFilterOperand(field, raw))}`;
    case 'ne':
      return `${expr} IS DISTINCT FROM ${typed(parseFilterOperand(field, raw))}`;
    case 'lt':
      return `${expr} < ${typed(parseFilterOperand(field, raw))}`;
    case 'lte':
      return `${expr} <= ${typed(parseFilterOperand(field, raw))}`;
    case 'gt':
      return `${expr} > ${typed(parseFilterOperand(field, raw))}`;
    case 'gte':
      return `${expr} >= ${typed(parseFilterOperand(field, raw))}`;
  }
}

function checkText(raw: string): string {
  if (raw.length > 255) throw new FieldValueError('must be at most 255 characters');
  if (raw.includes('\u0000') || !raw.isWellFormed()) throw new FieldValueError('must be valid text');
  return raw;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function parseSort(obj: ResolvedObject, raw: string, errors: FieldError[]): { keys: SortKey[]; idDesc: boolean } {
  const keys: SortKey[] = [];
  let idDesc: boolean | undefined;
  const parts = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0 || parts.length > 5) {
    errors.push({ path: 'sort', message: 'name 1 to 5 fields, e.g. sort=-amount,name' });
    return { keys, idDesc: true };
  }
  for (const part of parts) {
    if (idDesc !== undefined) break; // id is unique: keys after it cannot change the order
    const desc = part.startsWith('-');
    const name = desc ? part.slice(1) : part;
    const field = obj.fields.get(name);
    if (!field || field.type === 'textarea') {
      errors.push({ path: 'sort', message: `cannot sort by "${name.slice(0, 100)}"` });
      continue;
    }
    if (name === 'id') {
      idDesc = desc;
      continue;
    }
    keys.push({ field, desc });
  }
  return { keys, idDesc: idDesc ?? (keys.length ? keys[0].desc : true) };
}

export function encodeCursor(signature: string, values: (string | null)[]): string {
  return Buffer.from(JSON.stringify([signature, ...values])).toString('base64url');
}

function decodeCursor(raw: string, signature: string, length: number): string[] {
  const bad = () => new AppError('validation_failed', 'The cursor is invalid or belongs to another sort; start again without a cursor.', [
    { path: 'cursor', message: 'invalid cursor' },
  ]);
  if (raw.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed[0] !== signature || parsed.length !== length + 1) throw bad();
  const values = parsed.slice(1);
  if (!values.every((v) => v === null || typeof v === 'string')) throw bad();
  if (values[values.length - 1] === null) throw bad();
  return values as string[];
}

/**
 * The ORDER BY and the keyset condition "after the cursor row". NULLs sort last in both
 * directions; the tie-breaker id follows the first key's direction.
 */
export function orderAndKeyset(
  q: ListQuery,
  param: (v: unknown) => string,
): { orderBy: string; keyset: string | null; keyExprs: string[] } {
  const idDesc = q.idDesc;
  const keys = [
    ...q.sort.map((k) => ({ expr: k.field.sql, desc: k.desc, cast: sqlType(k.field.type), nullable: k.field.name !== 'createdAt' && k.field.name !== 'updatedAt' && k.field.name !== 'version' })),
    { expr: 't.id', desc: idDesc, cast: 'uuid', nullable: false },
  ];
  const orderBy = keys.map((k) => `${k.expr} ${k.desc ? 'DESC' : 'ASC'}${k.nullable ? ' NULLS LAST' : ''}`).join(', ');
  const keyExprs = keys.map((k) => `(${k.expr})::text`);
  if (!q.cursor) return { orderBy, keyset: null, keyExprs };
  const cursor = q.cursor;

  // Fast path: every key non-null and in one direction: a row comparison the index can use.
  if (keys.every((k) => !k.nullable && k.desc === keys[0].desc)) {
    const lhs = keys.map((k) => k.expr).join(', ');
    const rhs = keys.map((k, i) => `${param(cursor[i])}::${k.cast}`).join(', ');
    return { orderBy, keyset: `(${lhs}) ${keys[0].desc ? '<' : '>'} (${rhs})`, keyExprs };
  }
  // General case: (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(equalSql(keys[j], cursor[j], param));
    ands.push(afterSql(keys[i], cursor[i], param));
    ors.push(`(${ands.join(' AND ')})`);
  }
  return { orderBy, keyset: `(${ors.join(' OR ')})`, keyExprs };
}

interface Key {
  expr: string;
  desc: boolean;
  cast: string;
  nullable: boolean;
}

function equalSql(k: Key, v: string | null, param: (v: unknown) => string): string {
  return v === null ? `${k.expr} IS NULL` : `${k.expr} = ${param(v)}::${k.cast}`;
}

function afterSql(k: Key, v: string | null, param: (v: unknown) => string): string {
  // Within the NULL group nothing comes after on this key; a non-null value is followed
  // by larger (or smaller) values and then by all NULLs.
  if (v === null) return 'false';
  const cmp = `${k.expr} ${k.desc ? '<' : '>'} ${param(v)}::${k.cast}`;
  return k.nullable ? `(${cmp} OR ${k.expr} IS NULL)` : cmp;
}
