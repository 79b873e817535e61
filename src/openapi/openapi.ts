import { jsonSchemaFor, opsFor } from '../objects/field-types.ts';
import type { ResolvedObject } from '../objects/registry.ts';

/**
 * The OpenAPI 3.1 document, generated from the same object declarations (and the
 * organization's custom fields) that drive validation and lists.
 */
const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problem } },
});
const errors = {
  '400': problemResponse('Validation failed (`validation_failed`, `invalid_json`, `bad_request`)'),
  '401': problemResponse('Not authenticated'),
  '403': problemResponse('Not allowed for your role'),
  '404': problemResponse('Not found or not visible to you'),
};
const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', maxLength: 255 },
  description: 'Makes the request safe to retry: the same key and body replay the first answer.',
};
const ifMatch = (required: boolean) => ({
  name: 'If-Match',
  in: 'header',
  required,
  schema: { type: 'string' },
  description: 'The ETag you last read. Stale: merged when your fields are untouched since, else 412.',
});
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };

export function buildOpenApi(objects: ResolvedObject[], opts: { version: string }): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    Problem: {
      type: 'object',
      required: ['type', 'title', 'status', 'code'],
      properties: {
        type: { type: 'string' },
        title: { type: 'string' },
        status: { type: 'integer' },
        detail: { type: 'string' },
        code: { type: 'string' },
        requestId: { type: 'string' },
        errors: {
          type: 'array',
          items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } },
        },
        conflicts: {
          type: 'array',
          items: { type: 'object', properties: { field: { type: 'string' }, yours: {}, theirs: {} } },
        },
      },
    },
    SearchHit: {
      type: 'object',
      properties: {
        object: { type: 'string' },
        id: { type: 'string', format: 'uuid' },
        title: { type: 'string' },
        subtitle: { type: ['string', 'null'] },
        score: { type: 'number' },
        updatedAt: { type: 'string', format: 'date-time' },
      },
    },
  };
  const paths: Record<string, unknown> = {};

  for (const obj of objects) {
    const name = cap(obj.def.singular);
    const fields = [...obj.fields.values()];
    schemas[name] = {
      type: 'object',
      properties: Object.fromEntries(fields.map((f) => [f.name, { ...jsonSchemaFor({ ...f, required: false }), ...(f.readOnly ? { readOnly: true } : {}) }])),
      required: ['id', 'version', 'createdAt', 'updatedAt', 'ownerId'],
    };
    const writable = fields.filter((f) => !f.readOnly);
    schemas[`${name}Create`] = {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(writable.map((f) => [f.name, jsonSchemaFor(f)])),
      required: writable.filter((f) => f.required && f.defaultValue === undefined).map((f) => f.name),
    };
    schemas[`${name}Update`] = {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(writable.map((f) => [f.name, jsonSchemaFor(f)])),
    };
    const ref = { $ref: `#/components/schemas/${name}` };
    const json = (schema: unknown) => ({ 'application/json': { schema } });
    const filterParams = fields.map((f) => ({
      name: `filter[${f.name}][op]`,
      in: 'query',
      required: false,
      schema: { type: 'string' },
      description: `${f.label}: op is one of ${opsFor(f.type).join(', ')}; filter[${f.name}]=v means eq.`,
    }));
    const base = `/api/v1/${obj.def.name}`;
    paths[base] = {
      get: {
        tags: [obj.def.labelPlural],
        summary: `List ${obj.def.labelPlural.toLowerCase()}`,
        operationId: `list${cap(obj.def.name)}`,
        parameters: [
          { name: 'sort', in: 'query', schema: { type: 'string' }, description: 'e.g. -createdAt,name' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
          { name: 'fields', in: 'query', schema: { type: 'string' } },
          { name: 'deleted', in: 'query', schema: { type: 'boolean' } },
          ...filterParams,
        ],
        responses: {
          '200': {
            description: 'A page',
            content: json({
              type: 'object',
              properties: { data: { type: 'array', items: ref }, nextCursor: { type: ['string', 'null'] } },
            }),
          },
          ...errors,
        },
      },
      post: {
        tags: [obj.def.labelPlural],
        summary: `Create ${obj.def.singular}`,
        operationId: `create${name}`,
        parameters: [idempotencyKey],
        requestBody: { required: true, content: json({ $ref: `#/components/schemas/${name}Create` }) },
        responses: { '201': { description: 'Created', content: json(ref) }, ...errors },
      },
    };
    paths[`${base}/{id}`] = {
      get: {
        tags: [obj.def.labelPlural],
        operationId: `get${name}`,
        parameters: [idParam],
        responses: { '200': { description: 'The record (ETag header)', content: json(ref) }, ...errors },
      },
      patch: {
        tags: [obj.def.labelPlural],
        operationId: `update${name}`,
        parameters: [idParam, ifMatch(true), idempotencyKey],
        requestBody: { required: true, content: json({ $ref: `#/components/schemas/${name}Update` }) },
        responses: {
          '200': { description: 'Updated', content: json(ref) },
          '412': problemResponse('version_conflict'),
          '428': problemResponse('precondition_required'),
          ...errors,
        },
      },
      delete: {
        tags: [obj.def.labelPlural],
        operationId: `delete${name}`,
        parameters: [idParam, ifMatch(true), idempotencyKey],
        responses: { '204': { description: 'Deleted (soft)' }, '412': problemResponse('version_conflict'), ...errors },
      },
    };
    paths[`${base}/{id}/restore`] = {
      post: {
        tags: [obj.def.labelPlural],
        operationId: `restore${name}`,
        parameters: [idParam, idempotencyKey],
        responses: { '200': { description: 'Restored', content: json(ref) }, ...errors },
      },
    };
    paths[`${base}/{id}/history`] = {
      get: {
        tags: [obj.def.labelPlural],
        operationId: `history${name}`,
        parameters: [idParam],
        responses: { '200': { description: 'Field history, newest first' }, ...errors },
      },
    };
  }
  paths['/api/v1/leads/{id}/convert'] = {
    post: {
      tags: ['Leads'],
      operationId: 'convertLead',
      parameters: [idParam, idempotencyKey],
      requestBody: {
        content: {
          'application/json': {
            schema: {
              type: 'object',
              additionalProperties: false,
              properties: {
                accountId: { type: 'string', format: 'uuid' },
                createOpportunity: { type: 'boolean', default: true },
                opportunityName: { type: 'string' },
              },
            },
          },
        },
      },
      responses: { '200': { description: '{ accountId, contactId, opportunityId }' }, ...errors },
    },
  };
  paths['/api/v1/search'] = {
    get: {
      tags: ['Search'],
      operationId: 'search',
      parameters: [
        { name: 'q', in: 'query', required: true, schema: { type: 'string', maxLength: 200 } },
        { name: 'objects', in: 'query', schema: { type: 'string' } },
        { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 100 } },
      ],
      responses: {
        '200': {
          description: 'Hits across objects, best first',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { data: { type: 'array', items: { $ref: '#/components/schemas/SearchHit' } } } },
            },
          },
        },
        ...errors,
      },
    },
  };
  for (const [path, summary] of [
    ['/api/v1/auth/login', 'Sign in'],
    ['/api/v1/auth/mfa', 'Second factor'],
    ['/api/v1/auth/refresh', 'Rotate the refresh token'],
    ['/api/v1/auth/logout', 'Revoke the refresh token family'],
  ] as const) {
    paths[path] = { post: { tags: ['Auth'], summary, security: [], responses: { '200': { description: 'OK' }, '401': problemResponse('Wrong credentials') } } };
  }
  paths['/api/v1/metadata/objects'] = { get: { tags: ['Metadata'], summary: 'Objects and fields', responses: { '200': { description: 'OK' } } } };
  paths['/api/v1/metadata/objects/{object}/fields'] = {
    post: { tags: ['Metadata'], summary: 'Add a custom field (admin)', parameters: [idempotencyKey], responses: { '201': { description: 'Created' }, ...errors } },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Basalt CRM API',
      version: opts.version,
      description: 'Records, search, metadata and authentication. Errors are RFC 9457 problem+json.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Access token (JWT) or API key' } },
      schemas,
    },
    paths,
  };
}
