import { ROLES } from '../auth/actor.ts';
import { EVENT_TYPES } from '../events/types.ts';
import { CUSTOM_FIELD_TYPES, FIELD_TYPES } from '../objects/field-types.ts';
import { SHARING_DEFAULTS } from '../users/organization.service.ts';
import { dateTime, listOf, ref, type Schema, uuid } from './shared.ts';

/** Component schemas shared by the path tables (record schemas are added per object). */

const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties), extra: Schema = {}): Schema => ({
  type: 'object',
  required,
  properties,
  ...extra,
});
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const nullableStr: Schema = { type: ['string', 'null'] };
const nullableUuid: Schema = { type: ['string', 'null'], format: 'uuid' };
const nullableDate: Schema = { type: ['string', 'null'], format: 'date-time' };
const anyJson: Schema = {};
const jsonObject: Schema = { type: 'object', additionalProperties: true };

const publicUser = {
  id: uuid,
  email: { type: 'string', format: 'email' },
  name: str,
  role: ref('Role'),
  organizationId: uuid,
  teamId: nullableUuid,
};
const userSummary = { id: uuid, name: str, email: { type: 'string', format: 'email' }, role: ref('Role'), teamId: nullableUuid };
const user = {
  ...userSummary,
  organizationId: uuid,
  status: { type: 'string', enum: ['active', 'disabled'] },
  mfaEnabled: bool,
  version: int,
  lastLoginAt: nullableDate,
  createdAt: dateTime,
  updatedAt: dateTime,
};
const tokenPair = {
  accessToken: { type: 'string', description: 'JWT (EdDSA); send as Authorization: Bearer' },
  refreshToken: { type: 'string', description: 'Opaque (bsr_…); rotated on every refresh' },
  expiresIn: { type: 'integer', description: 'Access token lifetime in seconds' },
  tokenType: { type: 'string', const: 'Bearer' },
  user: ref('PublicUser'),
};
const apiKey = {
  id: uuid,
  name: str,
  role: ref('Role'),
  prefix: { type: 'string', description: 'The first characters of the key, to recognise it by' },
  createdBy: uuid,
  createdAt: dateTime,
  expiresAt: nullableDate,
  lastUsedAt: nullableDate,
  revokedAt: nullableDate,
};
const webhook = {
  id: uuid,
  url: { type: 'string', format: 'uri' },
  events: { type: 'array', items: ref('WebhookEventType') },
  description: nullableStr,
  createdAt: dateTime,
  createdBy: nullableUuid,
};
const importJob = {
  id: uuid,
  object: str,
  mode: { type: 'string', enum: ['insert', 'upsert'] },
  upsertBy: { type: ['string', 'null'], enum: ['externalId', 'email', 'domain', null] },
  status: { type: 'string', enum: ['running', 'completed', 'failed'] },
  mapping: { type: 'object', additionalProperties: nullableStr, description: 'CSV column → field (null: ignored)' },
  rowsRead: int,
  rowsInserted: int,
  rowsUpdated: int,
  rowsUnchanged: int,
  rowsRejected: int,
  batches: int,
  failure: nullableStr,
  createdBy: uuid,
  createdAt: dateTime,
  updatedAt: dateTime,
  finishedAt: nullableDate,
};
const experiment = {
  id: uuid,
  runId: str,
  experiment: str,
  title: str,
  hypothesis: str,
  passed: bool,
  startedAt: dateTime,
  finishedAt: dateTime,
  metrics: jsonObject,
  details: jsonObject,
  environment: jsonObject,
  createdBy: nullableUuid,
  createdAt: dateTime,
};

export const COMMON_SCHEMAS: Record<string, Schema> = {
  Problem: obj(
    {
      type: { type: 'string', description: 'urn:basalt:problem:<code>' },
      title: str,
      status: int,
      detail: str,
      code: str,
      requestId: str,
      errors: { type: 'array', items: obj({ path: str, message: str }) },
      conflicts: {
        type: 'array',
        description: 'version_conflict: the fields someone else changed since your If-Match version',
        items: obj({ field: str, yours: anyJson, theirs: anyJson }, ['field']),
      },
      current: { description: 'version_conflict: the resource as it is now', ...jsonObject },
      importId: { description: 'idempotency_in_progress on an import: the running job', ...uuid },
    },
    ['type', 'title', 'status', 'code'],
  ),
  Role: { type: 'string', enum: [...ROLES] },
  PublicUser: obj(publicUser),
  TokenPair: obj(tokenPair),
  MfaChallenge: obj({
    mfaRequired: { type: 'boolean', const: true },
    mfaToken: { type: 'string', description: 'For POST /api/v1/auth/mfa; valid 5 minutes' },
  }),
  MfaEnrollmentChallenge: obj({
    mfaEnrollmentRequired: { type: 'boolean', const: true },
    mfaToken: { type: 'string', description: 'Bearer for POST /api/v1/auth/mfa/enroll and /confirm; valid 5 minutes' },
  }),
  LoginResult: { oneOf: [ref('TokenPair'), ref('MfaChallenge'), ref('MfaEnrollmentChallenge')] },
  Me: obj({
    ...publicUser,
    role: { ...ref('Role'), description: 'The role this request acts with (an API key’s own role)' },
    status: str,
    mfaEnabled: bool,
    organization: obj({ id: uuid, name: str }),
    authMethod: { type: 'string', enum: ['access_token', 'api_key'] },
    apiKeyId: nullableUuid,
  }),
  MfaEnrollment: obj({ secret: { type: 'string', description: 'Base32 TOTP secret' }, otpauthUri: str }),
  MfaConfirmation: obj(
    {
      mfaEnabled: { type: 'boolean', const: true },
      recoveryCodes: {
        type: 'array',
        items: { type: 'string', pattern: '^[a-z2-7]{5}-[a-z2-7]{5}$' },
        minItems: 10,
        maxItems: 10,
        description: 'Shown once (absent on an idempotent replay)',
      },
      ...tokenPair,
    },
    ['mfaEnabled'],
    { description: 'Through an enrollment MFA token the answer is also a full sign-in (the TokenPair fields).' },
  ),
  MfaState: obj({ mfaEnabled: bool }),
  Jwks: obj({ keys: { type: 'array', items: obj({ kty: str, crv: str, x: str, kid: str, alg: str, use: str }, ['kty', 'kid']) } }),
  SignupResult: { allOf: [ref('TokenPair'), obj({ organizationId: uuid })] },
  UserSummary: obj(userSummary),
  User: obj(user),
  UserCreated: {
    allOf: [ref('User'), obj({ generatedPassword: { type: 'string', description: 'Only when no password was sent; shown once' } }, [])],
  },
  UserOrSummary: {
    oneOf: [ref('User'), ref('UserSummary')],
    description: 'Admins get the full User; everyone else the summary.',
  },
  Team: obj({ id: uuid, name: str, createdAt: dateTime }),
  Organization: obj({
    id: uuid,
    name: str,
    sharingDefault: { type: 'string', enum: [...SHARING_DEFAULTS] },
    mfaRequiredRoles: { type: 'array', items: ref('Role') },
    createdAt: dateTime,
    updatedAt: dateTime,
  }),
  ApiKey: obj(apiKey),
  ApiKeyCreated: {
    allOf: [ref('ApiKey'), obj({ key: { type: 'string', description: 'bsk_…; shown once (absent on an idempotent replay)' } }, [])],
  },
  AuditEntry: obj({
    seq: int,
    id: uuid,
    at: dateTime,
    actorId: nullableUuid,
    actorType: str,
    requestId: str,
    object: str,
    recordId: str,
    action: str,
    changes: anyJson,
    context: anyJson,
    prevHash: { type: 'string', description: 'Hash of the entry before (hex)' },
    hash: { type: 'string', description: 'SHA-256 over prevHash and this entry (hex)' },
  }),
  ChainVerification: obj(
    {
      valid: bool,
      entries: int,
      head: str,
      pending: { type: 'integer', description: 'Entries committed but not linked into the chain yet (the check links first; non-zero only while a very large import is being linked)' },
      firstBadEntry: obj({
        seq: int,
        id: nullableUuid,
        reason: { type: 'string', enum: ['seq_gap', 'prev_hash_mismatch', 'hash_mismatch', 'head_mismatch'] },
        detail: str,
      }),
    },
    ['valid', 'entries', 'head', 'pending'],
  ),
  WebhookEventType: { type: 'string', enum: ['*', ...EVENT_TYPES] },
  Webhook: obj(webhook),
  WebhookCreated: {
    allOf: [ref('Webhook'), obj({ secret: { type: 'string', description: 'HMAC signing secret; shown once' } })],
  },
  DeliveryAttempt: obj({
    attempt: int,
    at: dateTime,
    outcome: { type: 'string', enum: ['succeeded', 'failed'] },
    responseStatus: { type: ['integer', 'null'] },
    error: nullableStr,
    durationMs: int,
    nextRetryAt: nullableDate,
  }),
  Delivery: obj({
    id: uuid,
    webhookId: uuid,
    eventId: uuid,
    eventType: str,
    recordId: str,
    status: { type: 'string', enum: ['pending', 'succeeded', 'dead'] },
    attemptCount: int,
    nextAttemptAt: nullableDate,
    lastResponseStatus: { type: ['integer', 'null'] },
    lastError: nullableStr,
    createdAt: dateTime,
    deliveredAt: nullableDate,
    deadAt: nullableDate,
    attempts: { type: 'array', items: ref('DeliveryAttempt') },
  }),
  DeliveryReplay: obj({ id: uuid, webhookId: uuid, status: { type: 'string', const: 'pending' } }),
  ImportError: obj({ row: int, line: int, field: nullableStr, message: str }),
  ImportJob: obj(
    {
      ...importJob,
      errors: { type: 'array', items: ref('ImportError'), description: 'Rejected rows (at most 1000 kept); on GET and the import answer' },
      errorsTruncated: bool,
    },
    Object.keys(importJob),
  ),
  PipelineRow: obj({
    stage: str,
    currency: nullableStr,
    count: int,
    amount: { type: 'string', description: 'Decimal sum, 2 places (amounts in different currencies are never added)' },
  }),
  Experiment: obj(experiment),
  FieldDescription: obj(
    {
      name: str,
      label: str,
      type: { type: 'string', enum: [...FIELD_TYPES] },
      required: bool,
      readOnly: bool,
      system: bool,
      custom: bool,
      options: { type: 'array', items: str },
      lookup: str,
      maxLength: int,
      defaultValue: anyJson,
      description: str,
      searchable: bool,
      sortable: bool,
      filterOps: { type: 'array', items: str },
    },
    ['name', 'label', 'type', 'required', 'readOnly', 'custom', 'searchable', 'sortable', 'filterOps'],
  ),
  ObjectDescription: obj({
    name: str,
    singular: str,
    label: str,
    labelPlural: str,
    titleFields: { type: 'array', items: str },
    defaultSort: str,
    permissions: { type: 'array', items: { type: 'string', enum: ['read', 'create', 'update', 'delete'] } },
    fields: { type: 'array', items: ref('FieldDescription') },
  }),
  CustomFieldCreate: obj(
    {
      name: { type: 'string', pattern: '^[a-z][a-zA-Z0-9]{0,62}$' },
      label: { type: 'string', minLength: 1, maxLength: 100 },
      type: { type: 'string', enum: [...CUSTOM_FIELD_TYPES] },
      options: {
        type: 'array',
        minItems: 1,
        maxItems: 500,
        uniqueItems: true,
        items: { type: 'string', minLength: 1, maxLength: 255 },
        description: 'picklist only (required there)',
      },
      lookupObject: { type: 'string', description: 'lookup only (required there): the object it points to' },
      required: { type: 'boolean', default: false },
      searchable: { type: 'boolean', description: 'Default: true for text, textarea, email and phone' },
      description: { type: 'string', minLength: 1, maxLength: 500 },
      maxLength: { type: 'integer', minimum: 1, maximum: 32000 },
    },
    ['name', 'label', 'type'],
    { additionalProperties: false },
  ),
  CustomFieldCreated: { allOf: [obj({ id: uuid, object: str }), ref('FieldDescription')] },
  HistoryEntry: obj({
    at: dateTime,
    actorId: nullableUuid,
    actorType: str,
    action: str,
    field: str,
    oldValue: anyJson,
    newValue: anyJson,
    version: { type: ['integer', 'null'] },
    requestId: str,
    auditSeq: int,
  }),
  LeadConversion: obj(
    {
      accountId: uuid,
      contactId: uuid,
      opportunityId: nullableUuid,
      alreadyConverted: { type: 'boolean', description: 'true when the lead had been converted before (nothing changed)' },
    },
    ['accountId', 'contactId', 'opportunityId'],
  ),
  SearchHit: obj({
    object: str,
    id: uuid,
    title: str,
    subtitle: nullableStr,
    score: { type: 'number' },
    updatedAt: dateTime,
  }),
  RecordCount: obj({ count: int }),
  AggregateRow: obj(
    {
      key: { description: 'Value of the first groupBy field (null without groupBy, or for records without a value)' },
      group: { type: 'object', additionalProperties: true, description: 'Every groupBy field’s value, by field name' },
      count: int,
      sum: { type: 'string', description: 'Exact decimal; present when sum= was given' },
    },
    ['key', 'group', 'count'],
  ),
  AggregateResult: obj({
    data: { type: 'array', items: ref('AggregateRow') },
    truncated: { type: 'boolean', description: 'More groups exist than limit allowed' },
  }),
  ViewFilter: obj({ field: str, op: str, value: str }, ['field', 'op', 'value'], { additionalProperties: false }),
  ViewDefinition: obj(
    {
      columns: { type: 'array', minItems: 1, maxItems: 50, uniqueItems: true, items: str, description: 'Field names of the object' },
      filters: { type: 'array', maxItems: 20, items: ref('ViewFilter'), default: [] },
      sort: { type: 'string', description: 'As the list’s sort; default: the object’s default sort' },
    },
    ['columns'],
    { additionalProperties: false, description: 'Checked against the object’s fields by the list parser; at most 16 KiB of JSON' },
  ),
  SavedView: obj({
    id: uuid,
    object: str,
    name: str,
    definition: ref('ViewDefinition'),
    version: int,
    createdAt: dateTime,
    updatedAt: dateTime,
  }),
  HealthStatus: obj({ status: str, migration: int }, ['status']),
};

export const pageOf = (name: string): Schema => listOf(ref(name), true);
export const arrayOf = (name: string): Schema => listOf(ref(name));
