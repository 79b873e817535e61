import { newId } from '../ids.ts';
import type { Actor } from '../auth/actor.ts';
import { isUniqueViolation } from '../auth/auth.service.ts';
import { anyValue, optional, readBody, text } from '../auth/input.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, type FieldError, notFound, validationError } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { isObjectName, loadObject, type ResolvedObject } from '../objects/registry.ts';
import { parseListQuery } from '../records/list-query.ts';
import { isPlainObject } from '../records/record-shape.ts';
import { etag, type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult, WriteTx } from '../write/write-path.ts';

/**
 * Saved list views: a named set of columns, filters and sort for one object, personal to
 * the user who saved it (row-level security enforces the owner, see migration 0007). Every
 * field a view names is checked against the object as the organization defines it, with
 * the list parser itself, so a saved view always opens as a valid list query.
 */

export interface ViewFilter {
  field: string;
  op: string;
  value: string;
}

export interface ViewDefinition {
  columns: string[];
  filters: ViewFilter[];
  sort: string;
}

export interface SavedView {
  id: string;
  object: string;
  name: string;
  definition: ViewDefinition;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const MAX_COLUMNS = 50;
export const MAX_FILTERS = 20;
export const MAX_DEFINITION_BYTES = 16_384;
export const MAX_VIEWS_PER_OBJECT = 100;
const NAME = text({ max: 100 });

function toView(row: Record<string, unknown>): SavedView {
  return {
    id: String(row.id),
    object: String(row.object),
    name: String(row.name),
    definition: row.definition as ViewDefinition,
    version: Number(row.version),
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  };
}

function checkObject(actor: Actor, object: unknown, path: string): string {
  if (typeof object !== 'string' || !isObjectName(object)) {
    throw validationError([{ path, message: 'is not a known object' }]);
  }
  requirePermission(actor, object, 'read');
  return object;
}

/** Validates a definition against the object's fields; every problem is reported at once. */
export function readDefinition(obj: ResolvedObject, raw: unknown): ViewDefinition {
  const at = (p: string) => `definition${p}`;
  if (!isPlainObject(raw)) throw validationError([{ path: 'definition', message: 'must be an object with columns, filters and sort' }]);
  if (Buffer.byteLength(JSON.stringify(raw)) > MAX_DEFINITION_BYTES) {
    throw validationError([{ path: 'definition', message: `must be at most ${MAX_DEFINITION_BYTES} bytes of JSON` }]);
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(raw)) {
    if (!['columns', 'filters', 'sort'].includes(key)) errors.push({ path: at(`.${key.slice(0, 100)}`), message: 'is not a known field' });
  }

  const columns: string[] = [];
  if (!Array.isArray(raw.columns) || raw.columns.length === 0 || raw.columns.length > MAX_COLUMNS) {
    errors.push({ path: at('.columns'), message: `must be an array of 1 to ${MAX_COLUMNS} field names` });
  } else {
    raw.columns.forEach((c: unknown, i: number) => {
      if (typeof c !== 'string' || !obj.fields.has(c)) errors.push({ path: at(`.columns[${i}]`), message: `is not a field of ${obj.def.name}` });
      else if (columns.includes(c)) errors.push({ path: at(`.columns[${i}]`), message: 'is named twice' });
      else columns.push(c);
    });
  }

  const filters: ViewFilter[] = [];
  const rawFilters = raw.filters ?? [];
  if (!Array.isArray(rawFilters) || rawFilters.length > MAX_FILTERS) {
    errors.push({ path: at('.filters'), message: `must be an array of at most ${MAX_FILTERS} filters` });
  } else {
    rawFilters.forEach((f: unknown, i: number) => {
      const path = at(`.filters[${i}]`);
      if (!isPlainObject(f) || typeof f.field !== 'string' || typeof f.op !== 'string' || typeof f.value !== 'string' || Object.keys(f).length !== 3) {
        errors.push({ path, message: 'must be { field, op, value } with string values' });
        return;
      }
      // The list parser decides: the same field, operator and value checks as GET /{object}.
      const problem = listProblem(obj, { [`filter[${f.field}][${f.op}]`]: f.value });
      if (problem) errors.push({ path, message: problem });
      else filters.push({ field: f.field, op: f.op, value: f.value });
    });
  }

  const sort = raw.sort ?? obj.def.defaultSort;
  if (typeof sort !== 'string') errors.push({ path: at('.sort'), message: 'must be a string such as -amount,name' });
  else {
    const problem = listProblem(obj, { sort });
    if (problem) errors.push({ path: at('.sort'), message: problem });
  }
  if (errors.length) throw validationError(errors);
  return { columns, filters, sort: sort as string };
}

function listProblem(obj: ResolvedObject, query: Record<string, string>): string | null {
  try {
    parseListQuery(obj, query);
    return null;
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'validation_failed') throw err;
    return err.errors?.map((e) => e.message).join('; ') ?? err.detail;
  }
}

function duplicateName(): AppError {
  return new AppError('already_exists', 'You already have a view with this name for this object.', [{ path: 'name', message: 'is already in use' }]);
}

// ---------------------------------------------------------------------------------------

export async function listViews(pool: Pool, actor: Actor, query: Record<string, unknown>): Promise<{ data: SavedView[] }> {
  const unknown = Object.keys(query).find((k) => k !== 'object');
  if (unknown) throw validationError([{ path: unknown.slice(0, 100), message: 'is not a known query parameter (object)' }]);
  const object = query.object === undefined ? null : checkObject(actor, query.object, 'object');
  return withTenant(
    pool,
    actor,
    async (c) => {
      const res = await c.query(
        `SELECT * FROM saved_views WHERE user_id = $1 AND ($2::text IS NULL OR object = $2)
         ORDER BY object, lower(name), id LIMIT 1000`,
        [actor.userId, object],
      );
      return { data: res.rows.map(toView) };
    },
    { readOnly: true },
  );
}

export async function getView(pool: Pool, actor: Actor, id: string): Promise<SavedView> {
  if (!isUuid(id)) throw notFound('The view');
  const res = await withTenant(pool, actor, (c) => c.query('SELECT * FROM saved_views WHERE id = $1 AND user_id = $2', [id, actor.userId]), {
    readOnly: true,
  });
  if (!res.rows[0]) throw notFound('The view');
  return toView(res.rows[0]);
}

export async function createView(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  const input = readBody(body, { object: anyValue, name: NAME, definition: anyValue });
  const object = checkObject(ctx.actor, input.object, 'object');
  return write(deps, ctx, 'POST /api/v1/views', body, async (tx) => {
    const definition = readDefinition(await loadObject(tx.client, object), input.definition);
    const existing = await tx.client.query<{ n: number }>('SELECT count(*)::int AS n FROM saved_views WHERE user_id = $1 AND object = $2', [
      tx.actor.userId,
      object,
    ]);
    if ((existing.rows[0]?.n ?? 0) >= MAX_VIEWS_PER_OBJECT) {
      throw new AppError('conflict', `You have ${MAX_VIEWS_PER_OBJECT} views of ${object} already; delete one first.`);
    }
    const id = newId();
    let row: Record<string, unknown>;
    try {
      const res = await tx.client.query(
        `INSERT INTO saved_views (organization_id, id, user_id, object, name, definition, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7) RETURNING *`,
        [tx.actor.orgId, id, tx.actor.userId, object, input.name, JSON.stringify(definition), tx.at],
      );
      row = res.rows[0];
    } catch (err) {
      if (isUniqueViolation(err, 'saved_views_owner_name_key')) throw duplicateName();
      throw err;
    }
    const view = toView(row);
    tx.audit({
      object: 'views',
      recordId: id,
      action: 'create',
      changes: [
        { field: 'object', old: null, new: object },
        { field: 'name', old: null, new: view.name },
        { field: 'definition', old: null, new: definition as unknown as Json },
      ],
      context: { version: 1 },
    });
    tx.emit({ type: 'view.created', object: 'views', recordId: id, payload: { version: 1, view: view as unknown as Json } });
    return { status: 201, body: view, headers: { ETag: etag(1), Location: `/api/v1/views/${id}` } };
  });
}

/** The owner's view, locked for change; anyone else's looks like no view at all. */
async function lockOwnView(tx: WriteTx, id: string, ifMatch: number | undefined): Promise<SavedView> {
  const res = await tx.client.query('SELECT * FROM saved_views WHERE id = $1 AND user_id = $2 FOR UPDATE', [id, tx.actor.userId]);
  if (!res.rows[0]) throw notFound('The view');
  const view = toView(res.rows[0]);
  if (ifMatch !== undefined && ifMatch !== view.version) {
    throw new AppError(
      'version_conflict',
      `The view changed after version ${ifMatch} (it is at ${view.version}); read it again.`,
      undefined,
      { conflicts: [], current: view as unknown as Json },
      { ETag: etag(view.version) },
    );
  }
  return view;
}

export async function patchView(deps: RecordsDeps, ctx: RequestCtx, id: string, body: unknown, ifMatch: number | undefined): Promise<WriteResult> {
  if (!isUuid(id)) throw notFound('The view');
  const input = readBody(body, { name: optional(NAME), definition: optional(anyValue) });
  return write(deps, ctx, `PATCH /api/v1/views/${id} ${ifMatch ?? ''}`, body, async (tx) => {
    const before = await lockOwnView(tx, id, ifMatch);
    const definition = input.definition === undefined ? undefined : readDefinition(await loadObject(tx.client, before.object), input.definition);
    const changes: { field: string; old: Json; new: Json }[] = [];
    if (input.name !== undefined && input.name !== before.name) changes.push({ field: 'name', old: before.name, new: input.name });
    if (definition && JSON.stringify(definition) !== JSON.stringify(before.definition)) {
      changes.push({ field: 'definition', old: before.definition as unknown as Json, new: definition as unknown as Json });
    }
    if (changes.length === 0) return { status: 200, body: before, headers: { ETag: etag(before.version) } };
    let row: Record<string, unknown>;
    try {
      const res = await tx.client.query(
        `UPDATE saved_views SET name = coalesce($2, name), definition = coalesce($3::jsonb, definition),
           version = version + 1, updated_at = $4 WHERE id = $1 RETURNING *`,
        [id, input.name ?? null, definition ? JSON.stringify(definition) : null, tx.at],
      );
      row = res.rows[0];
    } catch (err) {
      if (isUniqueViolation(err, 'saved_views_owner_name_key')) throw duplicateName();
      throw err;
    }
    const view = toView(row);
    tx.audit({ object: 'views', recordId: id, action: 'update', changes, context: { version: view.version } });
    tx.emit({ type: 'view.updated', object: 'views', recordId: id, payload: { version: view.version, changes, view: view as unknown as Json } });
    return { status: 200, body: view, headers: { ETag: etag(view.version) } };
  });
}

export async function deleteView(deps: RecordsDeps, ctx: RequestCtx, id: string, ifMatch: number | undefined): Promise<WriteResult> {
  if (!isUuid(id)) throw notFound('The view');
  return write(deps, ctx, `DELETE /api/v1/views/${id} ${ifMatch ?? ''}`, null, async (tx) => {
    const before = await lockOwnView(tx, id, ifMatch);
    await tx.client.query('DELETE FROM saved_views WHERE id = $1', [id]);
    tx.audit({
      object: 'views',
      recordId: id,
      action: 'delete',
      changes: [{ field: 'name', old: before.name, new: null }],
      context: { version: before.version },
    });
    tx.emit({ type: 'view.deleted', object: 'views', recordId: id, payload: { version: before.version, object: before.object, name: before.name } });
    return { status: 204, body: null };
  });
}
