import { ERROR_STATUS, type ErrorCode } from '../http/errors.ts';

/**
 * The small vocabulary the per-domain path tables (src/openapi/paths/*) are written in.
 * A table maps each path to its methods; each method is an Endpoint, a declarative row
 * that toOperation() turns into an OpenAPI 3.1 operation, adding the problem+json
 * responses every route shares (authentication, write path, JSON body, database).
 */

export type Schema = Record<string, unknown>;
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: Schema;
  description?: string;
  style?: string;
  explode?: boolean;
}

export interface Reply {
  description: string;
  /** JSON schema of an application/json body (or of `contentType` when given). */
  schema?: Schema;
  /** Several media types (e.g. an export: CSV or NDJSON). */
  content?: Record<string, Schema>;
  contentType?: string;
  /** Names of components.headers entries sent with this answer. */
  headers?: HeaderName[];
}

export type Auth =
  /** Authorization: Bearer access token or API key (the default). */
  | 'bearer'
  /** No authentication. */
  | 'none'
  /** Bearer is optional (the answer differs when signed in). */
  | 'optional'
  /** A signed-in user's access token, or the MFA enrollment token from sign-in. */
  | 'bearerOrMfaToken';

export interface Endpoint {
  summary: string;
  operationId: string;
  description?: string;
  /** Defaults to the table's tag. */
  tags?: string[];
  auth?: Auth;
  params?: Param[];
  body?: { schema: Schema; required?: boolean; contentType?: string; description?: string };
  /** Goes through the write path: honours Idempotency-Key, may answer the write-path errors. */
  write?: boolean;
  responses: Record<string, Reply>;
  /** Error codes this route itself can answer (shared ones are added by toOperation). */
  errors?: ErrorCode[];
}

export type PathTable = Record<string, Partial<Record<Method, Endpoint>>>;

export type HeaderName = 'ETag' | 'Location' | 'IdempotentReplayed' | 'RetryAfter' | 'WWWAuthenticate' | 'ContentDisposition';

export const HEADERS: Record<HeaderName, Schema> = {
  ETag: { description: 'The record version as a strong ETag, e.g. "3"; send it back in If-Match.', schema: { type: 'string' } },
  Location: { description: 'Where the created resource (or job) can be read.', schema: { type: 'string' } },
  IdempotentReplayed: {
    description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
  RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } },
  WWWAuthenticate: { description: '`Bearer`', schema: { type: 'string' } },
  ContentDisposition: { description: 'attachment; filename="<object>-<timestamp>.<csv|ndjson>"', schema: { type: 'string' } },
};

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const nullable = (schema: Schema): Schema => ({ oneOf: [schema, { type: 'null' }] });
export const listOf = (item: Schema, paged = false): Schema => ({
  type: 'object',
  required: paged ? ['data', 'nextCursor'] : ['data'],
  properties: {
    data: { type: 'array', items: item },
    ...(paged ? { nextCursor: { type: ['string', 'null'], description: 'Pass as ?cursor= for the next page; null on the last.' } } : {}),
  },
});
export const uuid: Schema = { type: 'string', format: 'uuid' };
export const dateTime: Schema = { type: 'string', format: 'date-time' };

export const pathParam = (name: string, description?: string): Param => ({
  name,
  in: 'path',
  required: true,
  schema: uuid,
  ...(description ? { description } : {}),
});
export const idParam = pathParam('id');
export const query = (name: string, schema: Schema, description?: string): Param => ({
  name,
  in: 'query',
  required: false,
  schema,
  ...(description ? { description } : {}),
});
export const limitParam = (max: number, dflt: number): Param => query('limit', { type: 'integer', minimum: 1, maximum: max, default: dflt });
export const cursorParam: Param = query('cursor', { type: 'string' }, 'The nextCursor of the previous page.');

export const idempotencyKey: Param = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  description:
    'Makes the request safe to retry: the same key and body replay the first answer (Idempotent-Replayed: true); ' +
    'the same key with another body is 422 idempotency_key_reused.',
};
export const ifMatch = (required: boolean, description: string): Param => ({
  name: 'If-Match',
  in: 'header',
  required,
  schema: { type: 'string' },
  description,
});

/** Codes every JSON request body may draw (before the handler runs). */
const JSON_BODY_ERRORS: ErrorCode[] = ['invalid_json', 'unsupported_media_type', 'payload_too_large', 'validation_failed'];
/** Codes of the write path (src/write/write-path.ts) and of a malformed Idempotency-Key. */
const WRITE_ERRORS: ErrorCode[] = ['bad_request', 'idempotency_in_progress', 'idempotency_key_reused', 'unavailable'];

const STATUS_HEADERS: Partial<Record<number, HeaderName[]>> = { 401: ['WWWAuthenticate'], 429: ['RetryAfter'], 503: ['RetryAfter'] };

const headerRefs = (names: HeaderName[] | undefined) =>
  names?.length ? { headers: Object.fromEntries(names.map((h) => [HEADER_WIRE_NAMES[h], { $ref: `#/components/headers/${h}` }])) } : {};

const HEADER_WIRE_NAMES: Record<HeaderName, string> = {
  ETag: 'ETag',
  Location: 'Location',
  IdempotentReplayed: 'Idempotent-Replayed',
  RetryAfter: 'Retry-After',
  WWWAuthenticate: 'WWW-Authenticate',
  ContentDisposition: 'Content-Disposition',
};

/** problem+json responses for the given codes, one per HTTP status, naming its codes. */
export function problems(codes: Iterable<ErrorCode>): Record<string, Schema> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    if (!byStatus.has(status)) byStatus.set(status, new Set());
    byStatus.get(status)?.add(code);
  }
  return Object.fromEntries(
    [...byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, set]) => [
        String(status),
        {
          description: `Problem: ${[...set].map((c) => `\`${c}\``).join(', ')}`,
          ...headerRefs(STATUS_HEADERS[status]),
          content: { 'application/problem+json': { schema: ref('Problem') } },
        },
      ]),
  );
}

const SECURITY: Record<Auth, Schema[] | undefined> = {
  bearer: undefined, // the document's default
  none: [],
  optional: [{}, { bearer: [] }],
  bearerOrMfaToken: [{ bearer: [] }, { mfaToken: [] }],
};

function toReply(r: Reply): Schema {
  const content = r.content
    ? Object.fromEntries(Object.entries(r.content).map(([type, schema]) => [type, { schema }]))
    : r.schema
      ? { [r.contentType ?? 'application/json']: { schema: r.schema } }
      : undefined;
  return { description: r.description, ...headerRefs(r.headers), ...(content ? { content } : {}) };
}

export function toOperation(tag: string, ep: Endpoint): Schema {
  const auth = ep.auth ?? 'bearer';
  const codes = new Set<ErrorCode>(ep.errors ?? []);
  if (auth !== 'none') codes.add('unauthenticated');
  if (ep.body && (ep.body.contentType ?? 'application/json') === 'application/json') for (const c of JSON_BODY_ERRORS) codes.add(c);
  if (ep.write) for (const c of WRITE_ERRORS) codes.add(c);
  codes.add('internal_error');
  const params = [...(ep.params ?? []), ...(ep.write ? [idempotencyKey] : [])];
  const security = SECURITY[auth];
  return {
    tags: ep.tags ?? [tag],
    summary: ep.summary,
    operationId: ep.operationId,
    ...(ep.description ? { description: ep.description } : {}),
    ...(security ? { security } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(ep.body
      ? {
          requestBody: {
            required: ep.body.required ?? true,
            ...(ep.body.description ? { description: ep.body.description } : {}),
            content: { [ep.body.contentType ?? 'application/json']: { schema: ep.body.schema } },
          },
        }
      : {}),
    responses: {
      ...Object.fromEntries(Object.entries(ep.responses).map(([status, r]) => [status, toReply(r)])),
      ...Object.fromEntries(Object.entries(problems(codes)).filter(([status]) => !(status in ep.responses))),
    },
  };
}

/** Turns a table into OpenAPI path items (tag: the table's default tag). */
export function compile(tag: string, table: PathTable): Record<string, Schema> {
  return Object.fromEntries(
    Object.entries(table).map(([path, methods]) => [
      path,
      Object.fromEntries(Object.entries(methods).map(([method, ep]) => [method, toOperation(tag, ep as Endpoint)])),
    ]),
  );
}
