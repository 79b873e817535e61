import { newId } from '../ids.ts';
import type { Actor } from '../auth/actor.ts';
import { can, OBJECT_PERMISSIONS, requireAdmin } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { forgetTenantMetadata, withTenant } from '../db/session.ts';
import { AppError, type FieldError, validationError } from '../http/errors.ts';
import { CUSTOM_FIELD_TYPES, type CustomFieldType, type FieldType, type Json, opsFor } from '../objects/field-types.ts';
import { isObjectName, loadAllObjects, loadObject, objectDef, type ResolvedObject } from '../objects/registry.ts';
import { isPlainObject } from '../records/record-shape.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';

export const MAX_CUSTOM_FIELDS_PER_OBJECT = 200;

/** What a UI needs to render forms, tables and filters for one object. */
export function describeObject(obj: ResolvedObject, actor: Actor) {
  return {
    name: obj.def.name,
    singular: obj.def.singular,
    label: obj.def.label,
    labelPlural: obj.def.labelPlural,
    titleFields: obj.def.titleFields,
    defaultSort: obj.def.defaultSort,
    permissions: OBJECT_PERMISSIONS[actor.role][obj.def.name] ?? [],
    fields: [...obj.fields.values()].map((f) => ({
      name: f.name,
      label: f.label,
      type: f.type,
      required: f.required ?? false,
      readOnly: f.readOnly ?? false,
      system: f.system,
      custom: f.custom ?? false,
      ...(f.options ? { options: f.options } : {}),
      ...(f.lookup ? { lookup: f.lookup } : {}),
      ...(f.maxLength ? { maxLength: f.maxLength } : {}),
      ...(f.defaultValue !== undefined ? { defaultValue: f.defaultValue } : {}),
      ...(f.description ? { description: f.description } : {}),
      searchable: f.searchWeight !== undefined,
      sortable: f.type !== 'textarea',
      filterOps: opsFor(f.type),
    })),
  };
}

export async function listObjects(pool: Pool, actor: Actor) {
  return withTenant(pool, actor, async (client) => {
    const objects = await loadAllObjects(client);
    return { data: objects.filter((o) => can(actor, o.def.name, 'read')).map((o) => describeObject(o, actor)) };
  }, { readOnly: true });
}

export async function getObject(pool: Pool, actor: Actor, name: string) {
  objectDef(name);
  return withTenant(pool, actor, async (client) => describeObject(await loadObject(client, name), actor), { readOnly: true });
}

interface NewField {
  name: string;
  label: string;
  type: CustomFieldType;
  options: { values?: string[]; lookup?: string; maxLength?: number; description?: string };
  required: boolean;
  searchable: boolean;
}

const ALLOWED_KEYS = ['name', 'label', 'type', 'options', 'required', 'searchable', 'lookupObject', 'description', 'maxLength'];

function parseNewField(body: unknown): NewField {
  if (!isPlainObject(body)) throw validationError([{ path: '', message: 'the request body must be a JSON object' }]);
  const errors: FieldError[] = [];
  for (const k of Object.keys(body)) if (!ALLOWED_KEYS.includes(k)) errors.push({ path: `/${k.slice(0, 100)}`, message: 'unknown field' });
  const { name, label, type, options, required, searchable, lookupObject, description, maxLength } = body;
  if (typeof name !== 'string' || !/^[a-z][a-zA-Z0-9]{0,62}$/.test(name)) {
    errors.push({ path: '/name', message: 'must be camelCase: a lower-case letter, then letters and digits, at most 63 characters' });
  } else if (name in Object.prototype) {
    // "constructor", "toString", ...: every plain object already "has" them.
    errors.push({ path: '/name', message: 'is reserved' });
  }
  const text = (v: unknown, max: number) => typeof v === 'string' && v.trim() !== '' && v.length <= max && v.isWellFormed() && !v.includes('\u0000');
  if (!text(label, 100)) errors.push({ path: '/label', message: 'must be a non-empty string of at most 100 characters' });
  if (typeof type !== 'string' || !(CUSTOM_FIELD_TYPES as readonly string[]).includes(type)) {
    errors.push({ path: '/type', message: `must be one of ${CUSTOM_FIELD_TYPES.join(', ')}` });
  }
  if (required !== undefined && typeof required !== 'boolean') errors.push({ path: '/required', message: 'must be true or false' });
  if (searchable !== undefined && typeof searchable !== 'boolean') errors.push({ path: '/searchable', message: 'must be true or false' });
  if (description !== undefined && !text(description, 500)) errors.push({ path: '/description', message: 'must be a string of at most 500 characters' });
  if (maxLength !== undefined && (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 1 || maxLength > 32000)) {
    errors.push({ path: '/maxLength', message: 'must be an integer from 1 to 32000' });
  }
  const out: NewField['options'] = {};
  if (type === 'picklist') {
    if (!Array.isArray(options) || options.length === 0 || options.length > 500 || !options.every((o) => text(o, 255))) {
      errors.push({ path: '/options', message: 'a picklist needs 1 to 500 option values (strings)' });
    } else if (new Set(options).size !== options.length) {
      errors.push({ path: '/options', message: 'option values must be unique' });
    } else out.values = options as string[];
  } else if (options !== undefined) {
    errors.push({ path: '/options', message: 'only picklist fields take options' });
  }
  if (type === 'lookup') {
    if (typeof lookupObject !== 'string' || !isObjectName(lookupObject)) {
      errors.push({ path: '/lookupObject', message: 'a lookup needs lookupObject: the object it points to (e.g. "accounts")' });
    } else out.lookup = lookupObject;
  } else if (lookupObject !== undefined) {
    errors.push({ path: '/lookupObject', message: 'only lookup fields take lookupObject' });
  }
  if (typeof maxLength === 'number') out.maxLength = maxLength;
  if (typeof description === 'string') out.description = description;
  if (errors.length) throw validationError(errors);
  return {
    name: name as string,
    label: (label as string).trim(),
    type: type as CustomFieldType,
    options: out,
    required: required === true,
    searchable: typeof searchable === 'boolean' ? searchable : ['text', 'textarea', 'email', 'phone'].includes(type as string),
  };
}

export async function createCustomField(deps: RecordsDeps, ctx: RequestCtx, object: string, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  objectDef(object);
  const field = parseNewField(body);
  return write(deps, ctx, `POST /metadata/objects/${object}/fields`, body, async (tx) => {
    // Serialise field creation per organization and object, so names stay unique without races.
    await tx.client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [`${tx.actor.orgId}/fields/${object}`]);
    // This transaction changes the fields: read them from the database from here on, not
    // from the cache the write path's metadata version would select.
    forgetTenantMetadata(tx.client);
    const obj = await loadObject(tx.client, object);
    if (obj.fields.has(field.name) || field.name === 'custom') {
      throw new AppError('already_exists', `${object} already has a field named "${field.name}".`, [{ path: '/name', message: 'is taken' }]);
    }
    const customCount = [...obj.fields.values()].filter((f) => f.custom).length;
    if (customCount >= MAX_CUSTOM_FIELDS_PER_OBJECT) {
      throw new AppError('conflict', `${object} already has ${MAX_CUSTOM_FIELDS_PER_OBJECT} custom fields.`);
    }
    const id = newId();
    await tx.client.query(
      `INSERT INTO field_definitions (organization_id, id, object, name, label, type, options, required, searchable)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [tx.actor.orgId, id, object, field.name, field.label, field.type, JSON.stringify(field.options), field.required, field.searchable],
    );
    const described = describeObject(await loadObject(tx.client, object), tx.actor).fields.find((f) => f.name === field.name);
    tx.audit({
      object: 'field_definitions',
      recordId: id,
      action: 'create',
      changes: [{ field: `${object}.${field.name}`, old: null, new: { type: field.type as FieldType, label: field.label } }],
    });
    tx.emit({ type: 'metadata.field_created', object: 'field_definitions', recordId: id, payload: { object, field: (described ?? null) as Json } });
    return {
      status: 201,
      body: { id, object, ...described },
      headers: { Location: `/api/v1/metadata/objects/${object}` },
    };
  });
}
