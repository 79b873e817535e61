import type { PoolClient } from '../db/pool.ts';
import { quoteLiteral } from '../db/pool.ts';
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

/** Loads one object with the organization's custom fields (inside a tenant transaction). */
export async function loadObject(client: PoolClient, name: string): Promise<ResolvedObject> {
  const def = objectDef(name);
  const res = await client.query<CustomFieldRow>(
    'SELECT object, name, label, type, options, required, searchable FROM field_definitions WHERE object = $1 ORDER BY created_at, name',
    [name],
  );
  return resolveObject(def, res.rows);
}

export async function loadAllObjects(client: PoolClient): Promise<ResolvedObject[]> {
  const res = await client.query<CustomFieldRow>(
    'SELECT object, name, label, type, options, required, searchable FROM field_definitions ORDER BY created_at, name',
  );
  return STANDARD_OBJECTS.map((def) => resolveObject(def, res.rows));
}
