import type { Actor } from '../auth/actor.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { type FieldError, validationError } from '../http/errors.ts';
import type { FieldType, Json } from '../objects/field-types.ts';
import { loadObject, type ResolvedField, type ResolvedObject } from '../objects/registry.ts';
import { type ListQuery, listScope, parseListQuery } from './list-query.ts';

/**
 * Counts and grouped aggregates over the records a caller may read, with the same filters
 * as lists (so a dashboard or a list header never pages through records to add them up).
 * Row-level security decides what is counted, exactly as it decides what a list shows.
 */

/** Fields with a small, known set of values (or ids) that make sensible groups. */
export const GROUPABLE_TYPES: readonly FieldType[] = ['picklist', 'boolean', 'lookup', 'currencyCode'];
export const SUMMABLE_TYPES: readonly FieldType[] = ['decimal', 'integer', 'number', 'currency'];
export const MAX_GROUP_FIELDS = 2;
export const DEFAULT_GROUP_LIMIT = 100;
export const MAX_GROUP_LIMIT = 1000;

export interface AggregateRow {
  /** Value of the first groupBy field (null without groupBy, or for records without a value). */
  key: Json;
  /** Every groupBy field's value, by field name. */
  group: Record<string, Json>;
  count: number;
  /** Decimal string (never a binary float); present when `sum` was asked for. */
  sum?: string;
}

export interface AggregateResult {
  data: AggregateRow[];
  /** More groups exist than `limit` allowed. */
  truncated: boolean;
}

const AGGREGATE_PARAMS = new Set(['groupBy', 'sum', 'sort', 'limit']);
const AGGREGATE_SORTS = ['key', 'count', '-count', 'sum', '-sum'] as const;
type AggregateSort = (typeof AGGREGATE_SORTS)[number];

/**
 * The filter part of a list query (`filter[...]`, `deleted`), parsed by the list parser so
 * both accept exactly the same filters. Paging, sorting and projection make no sense here.
 */
function parseFilters(obj: ResolvedObject, query: Record<string, unknown>, own: ReadonlySet<string>): ListQuery {
  const filters: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(query)) {
    if (own.has(key)) continue;
    if (key.startsWith('filter[') || key === 'deleted') filters[key] = value;
    else errors.push({ path: key.slice(0, 100), message: `unknown query parameter (filters, deleted${own.size ? `, ${[...own].join(', ')}` : ''})` });
  }
  if (errors.length) throw validationError(errors);
  return parseListQuery(obj, filters);
}

export async function countRecords(pool: Pool, actor: Actor, object: string, query: Record<string, unknown>): Promise<{ count: number }> {
  requirePermission(actor, object, 'read');
  return withTenant(
    pool,
    actor,
    async (client) => {
      const obj = await loadObject(client, object);
      const { where, params } = listScope(parseFilters(obj, query, new Set()), actor.orgId);
      const res = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ${obj.def.table} t WHERE ${where.join(' AND ')}`, params);
      return { count: Number(res.rows[0]?.count ?? 0) };
    },
    { readOnly: true },
  );
}

export interface AggregateSpec {
  groupBy: ResolvedField[];
  sum: ResolvedField | null;
  sort: AggregateSort;
  limit: number;
}

function one(query: Record<string, unknown>, name: string, errors: FieldError[]): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    errors.push({ path: name, message: 'must be given once' });
    return undefined;
  }
  return v;
}

export function parseAggregateSpec(obj: ResolvedObject, query: Record<string, unknown>): AggregateSpec {
  const errors: FieldError[] = [];
  const groupBy: ResolvedField[] = [];
  const rawGroup = one(query, 'groupBy', errors);
  if (rawGroup !== undefined) {
    const names = rawGroup.split(',').map((s) => s.trim());
    if (names.length > MAX_GROUP_FIELDS || names.some((n) => !n)) {
      errors.push({ path: 'groupBy', message: `name 1 to ${MAX_GROUP_FIELDS} fields, e.g. groupBy=stage,currency` });
    } else {
      for (const name of names) {
        const f = obj.fields.get(name);
        if (!f) errors.push({ path: 'groupBy', message: `unknown field "${name.slice(0, 100)}" for ${obj.def.name}` });
        else if (!GROUPABLE_TYPES.includes(f.type)) {
          errors.push({ path: 'groupBy', message: `cannot group by "${name}" (a ${f.type} field); use a ${GROUPABLE_TYPES.join(', ')} field` });
        } else if (groupBy.includes(f)) errors.push({ path: 'groupBy', message: `"${name}" is named twice` });
        else groupBy.push(f);
      }
    }
  }
  let sum: ResolvedField | null = null;
  const rawSum = one(query, 'sum', errors);
  if (rawSum !== undefined) {
    const f = obj.fields.get(rawSum);
    if (!f) errors.push({ path: 'sum', message: `unknown field "${rawSum.slice(0, 100)}" for ${obj.def.name}` });
    else if (!SUMMABLE_TYPES.includes(f.type) || f.system) {
      errors.push({ path: 'sum', message: `cannot sum "${rawSum}" (a ${f.type} field); use a ${SUMMABLE_TYPES.join(', ')} field` });
    } else sum = f;
  }
  let sort: AggregateSort = 'key';
  const rawSort = one(query, 'sort', errors);
  if (rawSort !== undefined) {
    if (!(AGGREGATE_SORTS as readonly string[]).includes(rawSort)) errors.push({ path: 'sort', message: `must be one of ${AGGREGATE_SORTS.join(', ')}` });
    else if (rawSort.endsWith('sum') && !sum) errors.push({ path: 'sort', message: 'sorting by sum needs sum=<field>' });
    else sort = rawSort as AggregateSort;
  }
  let limit = DEFAULT_GROUP_LIMIT;
  const rawLimit = one(query, 'limit', errors);
  if (rawLimit !== undefined) {
    if (!/^\d{1,4}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > MAX_GROUP_LIMIT) {
      errors.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_GROUP_LIMIT}` });
    } else limit = Number(rawLimit);
  }
  if (errors.length) throw validationError(errors);
  return { groupBy, sum, sort, limit };
}

/** An exact sum (numeric, never a float): money keeps two decimals, counts of things none. */
function sumSql(f: ResolvedField): string {
  switch (f.type) {
    case 'integer':
      return `coalesce(sum(${f.sql}), 0)::numeric`;
    case 'number':
      return `coalesce(sum((${f.sql})::numeric), 0)`;
    default:
      return `round(coalesce(sum(${f.sql}), 0), 2)`;
  }
}

const SORT_SQL: Record<AggregateSort, string | null> = { key: null, count: 'count ASC', '-count': 'count DESC', sum: 'total ASC', '-sum': 'total DESC' };

/**
 * Count (and optionally sum) per group of up to two fields. Groups are ordered by their
 * values (picklists in their declared order, empty last) unless `sort` says otherwise.
 */
export async function aggregateRecords(pool: Pool, actor: Actor, object: string, query: Record<string, unknown>): Promise<AggregateResult> {
  requirePermission(actor, object, 'read');
  return withTenant(
    pool,
    actor,
    async (client) => {
      const obj = await loadObject(client, object);
      const q = parseFilters(obj, query, AGGREGATE_PARAMS);
      const spec = parseAggregateSpec(obj, query);
      const { where, params, param } = listScope(q, actor.orgId);
      const groups = spec.groupBy.map((f, i) => ({ f, alias: `g${i}` }));
      const select = [...groups.map((g) => `${g.f.sql} AS ${g.alias}`), 'count(*) AS count'];
      if (spec.sum) select.push(`${sumSql(spec.sum)} AS total`, `(${sumSql(spec.sum)})::text AS sum`);
      const keyOrder = groups.map((g) =>
        g.f.type === 'picklist' && g.f.options
          ? `array_position(${param([...g.f.options])}::text[], ${g.f.sql}) NULLS LAST, ${g.f.sql} NULLS LAST`
          : `${g.f.sql} NULLS LAST`,
      );
      const bySort = SORT_SQL[spec.sort];
      const orderBy = [...(bySort ? [bySort] : []), ...keyOrder];
      const sql = `SELECT ${select.join(', ')} FROM ${obj.def.table} t WHERE ${where.join(' AND ')}
        ${groups.length ? `GROUP BY ${groups.map((g) => g.f.sql).join(', ')}` : ''}
        ${orderBy.length ? `ORDER BY ${orderBy.join(', ')}` : ''} LIMIT ${spec.limit + 1}`;
      const res = await client.query<Record<string, unknown>>(sql, params);
      const rows = res.rows.slice(0, spec.limit);
      return {
        data: rows.map((r) => {
          const group: Record<string, Json> = Object.fromEntries(groups.map((g) => [g.f.name, (r[g.alias] ?? null) as Json]));
          const row: AggregateRow = { key: groups.length ? (group[groups[0].f.name] ?? null) : null, group, count: Number(r.count) };
          if (spec.sum) row.sum = String(r.sum);
          return row;
        }),
        truncated: res.rows.length > spec.limit,
      };
    },
    { readOnly: true },
  );
}
