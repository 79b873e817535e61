import { jsonSchemaFor, opsFor } from '../../objects/field-types.ts';
import type { ResolvedObject } from '../../objects/registry.ts';
import { DEFAULT_GROUP_LIMIT, GROUPABLE_TYPES, MAX_GROUP_FIELDS, MAX_GROUP_LIMIT, SUMMABLE_TYPES } from '../../records/aggregate.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../records/list-query.ts';
import { cursorParam, idParam, ifMatch, limitParam, listOf, type Param, type PathTable, query, ref, type Schema } from '../shared.ts';

/**
 * src/records/records.routes.ts: the CRUD surface of every object, from the same object
 * declarations (and the organization's custom fields) that drive validation and lists.
 */

export const cap = (s: string): string => s[0].toUpperCase() + s.slice(1);

/** Record, <Name>Create and <Name>Update schemas of one object. */
export function recordSchemas(obj: ResolvedObject): Record<string, Schema> {
  const name = cap(obj.def.singular);
  const fields = [...obj.fields.values()];
  const writable = fields.filter((f) => !f.readOnly);
  return {
    [name]: {
      type: 'object',
      properties: Object.fromEntries(
        fields.map((f) => [f.name, { ...jsonSchemaFor({ ...f, required: false }), ...(f.readOnly ? { readOnly: true } : {}) }]),
      ),
      required: ['id', 'version', 'createdAt', 'updatedAt', 'ownerId'],
    },
    [`${name}Create`]: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(writable.map((f) => [f.name, jsonSchemaFor(f)])),
      required: writable.filter((f) => f.required && f.defaultValue === undefined).map((f) => f.name),
    },
    [`${name}Update`]: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(writable.map((f) => [f.name, jsonSchemaFor(f)])),
    },
  };
}

/** filter[field] and filter[field][op], as the list parser (src/records/list-query.ts) reads them. */
export function filterParams(obj: ResolvedObject): Param[] {
  return [
    query('deleted', { type: 'boolean', default: false }, 'Include soft-deleted records'),
    ...[...obj.fields.values()].map((f) =>
      query(
        `filter[${f.name}]`,
        { type: 'string' },
        `${f.label}: equals. Other operators: filter[${f.name}][op]=value, op one of ${opsFor(f.type).join(', ')}.`,
      ),
    ),
  ];
}

/** The list query (also the export's, without limit and cursor). */
export function listQueryParams(obj: ResolvedObject, opts: { paged: boolean }): Param[] {
  return [
    query('sort', { type: 'string', default: obj.def.defaultSort }, 'Comma-separated fields, - for descending, e.g. -createdAt,name'),
    ...(opts.paged ? [limitParam(MAX_LIMIT, DEFAULT_LIMIT), cursorParam] : []),
    query('fields', { type: 'string' }, 'Comma-separated fields to return (id and version always are)'),
    ...filterParams(obj),
  ];
}

const CONFLICT = 'The ETag you last read. Stale: merged when your fields are untouched since, else 412 with the conflicts.';

export function recordPaths(objects: ResolvedObject[]): PathTable {
  const table: PathTable = {};
  for (const obj of objects) {
    const name = cap(obj.def.singular);
    const plural = cap(obj.def.name);
    const tags = [obj.def.labelPlural];
    const rec = ref(name);
    const base = `/api/v1/${obj.def.name}`;
    table[base] = {
      get: {
        tags,
        summary: `List ${obj.def.labelPlural.toLowerCase()}`,
        operationId: `list${plural}`,
        params: listQueryParams(obj, { paged: true }),
        responses: { '200': { description: 'A page', schema: listOf(rec, true) } },
        errors: ['validation_failed', 'forbidden', 'unavailable'],
      },
      post: {
        tags,
        summary: `Create ${obj.def.singular}`,
        operationId: `create${name}`,
        write: true,
        body: { schema: ref(`${name}Create`) },
        responses: { '201': { description: 'Created', schema: rec, headers: ['ETag', 'Location', 'IdempotentReplayed'] } },
        errors: ['forbidden'],
      },
    };
    const groupable = [...obj.fields.values()].filter((f) => GROUPABLE_TYPES.includes(f.type)).map((f) => f.name);
    const summable = [...obj.fields.values()].filter((f) => SUMMABLE_TYPES.includes(f.type) && !f.system).map((f) => f.name);
    table[`${base}/count`] = {
      get: {
        tags,
        summary: `Count ${obj.def.labelPlural.toLowerCase()} (list filters apply)`,
        operationId: `count${plural}`,
        params: filterParams(obj),
        responses: { '200': { description: 'How many records match', schema: ref('RecordCount') } },
        errors: ['validation_failed', 'forbidden', 'unavailable'],
      },
    };
    table[`${base}/aggregate`] = {
      get: {
        tags,
        summary: `Count (and sum) ${obj.def.labelPlural.toLowerCase()} per group (list filters apply)`,
        operationId: `aggregate${plural}`,
        params: [
          query(
            'groupBy',
            { type: 'string' },
            `1 to ${MAX_GROUP_FIELDS} comma-separated fields${groupable.length ? `, of: ${groupable.join(', ')}` : ''}`,
          ),
          query('sum', summable.length ? { type: 'string', enum: summable } : { type: 'string' }, 'A numeric field to add up per group'),
          query('sort', { type: 'string', enum: ['key', 'count', '-count', 'sum', '-sum'], default: 'key' }, 'sum and -sum need sum='),
          limitParam(MAX_GROUP_LIMIT, DEFAULT_GROUP_LIMIT),
          ...filterParams(obj),
        ],
        responses: { '200': { description: 'One row per group', schema: ref('AggregateResult') } },
        errors: ['validation_failed', 'forbidden', 'unavailable'],
      },
    };
    table[`${base}/{id}`] = {
      get: {
        tags,
        summary: `Read ${obj.def.singular}`,
        operationId: `get${name}`,
        params: [idParam, query('deleted', { type: 'boolean', default: false }, 'Read a soft-deleted record too')],
        responses: { '200': { description: 'The record', schema: rec, headers: ['ETag'] } },
        errors: ['validation_failed', 'forbidden', 'not_found', 'unavailable'],
      },
      patch: {
        tags,
        summary: `Update ${obj.def.singular}`,
        operationId: `update${name}`,
        params: [idParam, ifMatch(true, `${CONFLICT} Without it: 428 (unless BASALT_REQUIRE_IF_MATCH_ON_PATCH=false).`)],
        write: true,
        body: { schema: ref(`${name}Update`) },
        responses: { '200': { description: 'Updated', schema: rec, headers: ['ETag', 'IdempotentReplayed'] } },
        errors: ['forbidden', 'not_found', 'version_conflict', 'precondition_required'],
      },
      delete: {
        tags,
        summary: `Delete ${obj.def.singular} (soft)`,
        operationId: `delete${name}`,
        params: [idParam, ifMatch(true, 'The ETag you last read; must be current (else 412).')],
        write: true,
        responses: { '204': { description: 'Deleted (soft; restore brings it back)', headers: ['IdempotentReplayed'] } },
        errors: ['forbidden', 'not_found', 'version_conflict', 'precondition_required'],
      },
    };
    table[`${base}/{id}/restore`] = {
      post: {
        tags,
        summary: `Restore a deleted ${obj.def.singular}`,
        operationId: `restore${name}`,
        params: [idParam],
        write: true,
        responses: { '200': { description: 'Restored', schema: rec, headers: ['ETag', 'IdempotentReplayed'] } },
        errors: ['forbidden', 'not_found'],
      },
    };
    table[`${base}/{id}/history`] = {
      get: {
        tags,
        summary: `Field history of ${obj.def.singular}`,
        operationId: `history${name}`,
        params: [idParam],
        responses: { '200': { description: 'One entry per changed field, newest first (at most 1000 changes)', schema: listOf(ref('HistoryEntry')) } },
        errors: ['forbidden', 'not_found', 'unavailable'],
      },
    };
  }

  table['/api/v1/leads/{id}/convert'] = {
    post: {
      tags: ['Leads'],
      summary: 'Convert a lead into an account, a contact and (optionally) an opportunity',
      operationId: 'convertLead',
      description: 'Converting a converted lead again answers its earlier result (alreadyConverted: true).',
      params: [idParam],
      write: true,
      body: {
        required: false,
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: {
            accountId: { type: ['string', 'null'], format: 'uuid', description: 'Attach to this account instead of creating one' },
            createOpportunity: { type: 'boolean', default: true },
            opportunityName: { type: 'string', minLength: 1, maxLength: 255 },
          },
        },
      },
      responses: { '200': { description: 'The records made (or found)', schema: ref('LeadConversion'), headers: ['IdempotentReplayed'] } },
      errors: ['forbidden', 'not_found'],
    },
  };
  table['/api/v1/search'] = {
    get: {
      tags: ['Search'],
      summary: 'Search across objects',
      operationId: 'search',
      params: [
        { name: 'q', in: 'query', required: true, schema: { type: 'string', minLength: 1, maxLength: 200 } },
        query('objects', { type: 'string' }, `Comma-separated object names (default: all): ${objects.map((o) => o.def.name).join(', ')}`),
        limitParam(100, 20),
      ],
      responses: { '200': { description: 'Hits across objects, best first', schema: listOf(ref('SearchHit')) } },
      errors: ['validation_failed', 'unavailable'],
    },
  };
  return table;
}

/** src/metadata/metadata.routes.ts */
export const metadataPaths: PathTable = {
  '/api/v1/metadata/objects': {
    get: {
      summary: 'Objects the caller may read, with their fields',
      operationId: 'listObjects',
      responses: { '200': { description: 'Object descriptions', schema: listOf(ref('ObjectDescription')) } },
      errors: ['unavailable'],
    },
  },
  '/api/v1/metadata/objects/{object}': {
    get: {
      summary: 'One object and its fields',
      operationId: 'getObject',
      params: [{ name: 'object', in: 'path', required: true, schema: { type: 'string' }, description: 'e.g. accounts' }],
      responses: { '200': { description: 'The object description', schema: ref('ObjectDescription') } },
      errors: ['not_found', 'unavailable'],
    },
  },
  '/api/v1/metadata/objects/{object}/fields': {
    post: {
      summary: 'Add a custom field (admin)',
      operationId: 'createCustomField',
      params: [{ name: 'object', in: 'path', required: true, schema: { type: 'string' }, description: 'e.g. accounts' }],
      write: true,
      body: { schema: ref('CustomFieldCreate') },
      responses: {
        '201': { description: 'Created', schema: ref('CustomFieldCreated'), headers: ['Location', 'IdempotentReplayed'] },
      },
      errors: ['forbidden', 'not_found', 'already_exists', 'conflict'],
    },
  },
};
