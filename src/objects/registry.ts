import type { PoolClient } from '../db/pool.ts';
import { quoteLiteral } from '../db/pool.ts';
import { tenantMetadata } from '../db/session.ts';
import { notFound } from '../http/errors.ts';
import { columnOf, type ObjectDef, STANDARD_OBJECTS, SYSTEM_FIELDS } from './definitions.ts';
import { type FieldDef, type FieldType, sqlType } from './field-types.ts';

/** A field as one organization sees it, with the SQL expression that reads it. */
export interface ResolvedField extends FieldDef {
  /** SQL expression over alias `t` giving the typed value. */
  sql: string;
  system: boolean;
}

export interface ResolvedObject {
  def: ObjectDef;
  fields: Map<string, ResolvedField>;
}

const byName = new Map(STANDARD_OBJECTS.map((o) => [o.name, o]));

export function objectDef(name: string): ObjectDef {
  const def = byName.get(name);
  if (!def) throw notFound(`The object "${name.slice(0, 64)}"`);
  return def;
}

export function isObjectName(name: string): boolean {
  return byName.has(name);
}

export function customFieldSql(name: string, type: FieldType): string {
  const key = quoteLiteral(name);
  if (type === 'currency') return `(t.custom->${key}->>'amount')::numeric`;
  const cast = sqlType(type);
  return cast === 'text' ? `(t.custom->>${key})` : `(t.custom->>${key})::${cast}`;
}

export interface CustomFieldRow {
  object: string;
  name: string;
  label: string;
  type: FieldType;
  options: { values?: string[]; lookup?: string; maxLength?: number; description?: string };
  required: boolean;
  searchable: boolean;
}

export function resolveObject(def: ObjectDef, custom: CustomFieldRow[]): ResolvedObject {
  const fields = new Map<string, ResolvedField>();
  for (const f of SYSTEM_FIELDS) fields.set(f.name, { ...f, sql: `t.${columnOf(f)}`, system: true });
  for (const f of def.fields) fields.set(f.name, { ...f, sql: `t.${columnOf(f)}`, system: false });
  for (const c of custom) {
    if (c.object !== def.name) continue;
    fields.set(c.name, {
      name: c.name,
      label: c.label,
      type: c.type,
      required: c.required,
      options: c.options.values,
      lookup: c.options.lookup,
      maxLength: c.options.maxLength,
      description: c.options.description,
      searchWeight: c.searchable ? 'B' : undefined,
      custom: true,
      sql: customFieldSql(c.name, c.type),
      system: false,
    });
  }
  return { def, fields };
}

const CUSTOM_FIELD_COLUMNS = 'object, name, label, type, options, required, searchable';

/**
 * Custom fields per organization, cached per pool (one database) and keyed by the
 * organization's metadata version, which every tenant transaction reads in the round trip
 * that opens it (src/db/session.ts). A node whose copy is older sees a different version in
 * that same round trip and reloads, so no node serves fields other than the database's:
 * nothing here has to agree across nodes (docs/decisions/0010-metadata-version-cache.md).
 * Bounded: least recently used organizations are dropped beyond MAX_CACHED_ORGANIZATIONS.
 */
interface OrgFields {
  version: string;
  rows: CustomFieldRow[];
  resolved: Map<string, ResolvedObject>;
}

const MAX_CACHED_ORGANIZATIONS = 1000;
const caches = new WeakMap<object, Map<string, OrgFields>>();

async function orgFields(client: PoolClient): Promise<OrgFields | undefined> {
  const tx = tenantMetadata(client);
  if (!tx) return undefined;
  let cache = caches.get(tx.pool);
  if (!cache) {
    cache = new Map();
    caches.set(tx.pool, cache);
  }
  const hit = cache.get(tx.orgId);
  if (hit && hit.version === tx.version) {
    cache.delete(tx.orgId);
    cache.set(tx.orgId, hit);
    return hit;
  }
  // Version and fields from one statement (one snapshot), so the version labels exactly
  // the fields read. It may be newer than tx.version (a change committed meanwhile).
  const res = await client.query<CustomFieldRow & { metadata_version: string }>(
    `SELECT o.metadata_version, f.object, f.name, f.label, f.type, f.options, f.required, f.searchable
     FROM organizations o LEFT JOIN field_definitions f ON f.organization_id = o.id
     WHERE o.id = basalt_org() ORDER BY f.created_at, f.name`,
  );
  const first = res.rows[0];
  if (!first) return undefined;
  const entry: OrgFields = {
    version: String(first.metadata_version),
    rows: res.rows
      .filter((r) => r.name !== null)
      .map(({ object, name, label, type, options, required, searchable }) => ({ object, name, label, type, options, required, searchable })),
    resolved: new Map(),
  };
  cache.delete(tx.orgId);
  cache.set(tx.orgId, entry);
  while (cache.size > MAX_CACHED_ORGANIZATIONS) {
    const oldest = cache.keys().next().value as string;
    cache.delete(oldest);
  }
  return entry;
}

function resolvedFrom(entry: OrgFields, def: ObjectDef): ResolvedObject {
  let obj = entry.resolved.get(def.name);
  if (!obj) {
    obj = resolveObject(def, entry.rows);
    entry.resolved.set(def.name, obj);
  }
  return obj;
}

/**
 * Loads one object with the organization's custom fields (inside a tenant transaction).
 * In a transaction opened by withTenant or the write path, from the cache when the
 * organization's metadata version matches; from the database in a transaction that said it
 * changes fields (forgetTenantMetadata) and elsewhere. The result is shared: callers must
 * not modify it.
 */
export async function loadObject(client: PoolClient, name: string): Promise<ResolvedObject> {
  const def = objectDef(name);
  const cached = await orgFields(client);
  if (cached) return resolvedFrom(cached, def);
  const res = await client.query<CustomFieldRow>(
    `SELECT ${CUSTOM_FIELD_COLUMNS} FROM field_definitions WHERE object = $1 ORDER BY created_at, name`,
    [name],
  );
  return resolveObject(def, res.rows);
}

export async function loadAllObjects(client: PoolClient): Promise<ResolvedObject[]> {
  const cached = await orgFields(client);
  if (cached) return STANDARD_OBJECTS.map((def) => resolvedFrom(cached, def));
  const res = await client.query<CustomFieldRow>(`SELECT ${CUSTOM_FIELD_COLUMNS} FROM field_definitions ORDER BY created_at, name`);
  return STANDARD_OBJECTS.map((def) => resolveObject(def, res.rows));
}
