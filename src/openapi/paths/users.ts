import { SHARING_DEFAULTS } from '../../users/organization.service.ts';
import { cursorParam, idParam, ifMatch, limitParam, listOf, type PathTable, query, ref } from '../shared.ts';

/** src/users/users.routes.ts: users, teams and the organization's settings. */
const role = ref('Role');
const teamId = { type: ['string', 'null'], format: 'uuid', description: 'A team of this organization' };
const name = { type: 'string', minLength: 1, maxLength: 200 };
const password = { type: 'string', minLength: 8, maxLength: 256 };

export const userPaths: PathTable = {
  '/api/v1/users': {
    get: {
      summary: 'List users (admins see every detail, others the summary)',
      operationId: 'listUsers',
      params: [
        query('q', { type: 'string', maxLength: 200 }, 'Case-insensitive part of the name or email'),
        query('role', role),
        query('teamId', { type: 'string' }, 'A team id, or none for users without a team'),
        query('status', { type: 'string', enum: ['active', 'disabled'] }),
        limitParam(500, 100),
        cursorParam,
      ],
      responses: { '200': { description: 'A page, by id', schema: listOf(ref('UserOrSummary'), true) } },
      errors: ['validation_failed', 'unavailable'],
    },
    post: {
      summary: 'Create a user (admin)',
      operationId: 'createUser',
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'name', 'role'],
          properties: {
            email: { type: 'string', format: 'email', maxLength: 320 },
            name,
            role,
            password: { ...password, description: 'Omit to have one generated (returned once as generatedPassword)' },
            teamId,
          },
        },
      },
      responses: { '201': { description: 'Created', schema: ref('UserCreated'), headers: ['ETag', 'Location', 'IdempotentReplayed'] } },
      errors: ['forbidden', 'already_exists'],
    },
  },
  '/api/v1/users/{id}': {
    get: {
      summary: 'Read a user',
      operationId: 'getUser',
      params: [idParam],
      responses: { '200': { description: 'The user (ETag for admins)', schema: ref('UserOrSummary'), headers: ['ETag'] } },
      errors: ['not_found', 'unavailable'],
    },
    patch: {
      summary: 'Change a user (admin)',
      operationId: 'updateUser',
      description:
        'Disabling a user or setting a password ends their sessions; mfaEnabled: false resets a lost second factor. ' +
        'The last active admin cannot be demoted or disabled (409).',
      params: [idParam, ifMatch(false, 'Optional: the ETag you last read; a stale one is 412.')],
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name,
            role,
            teamId,
            status: { type: 'string', enum: ['active', 'disabled'] },
            password,
            mfaEnabled: { type: 'boolean', const: false, description: 'Only false (the user enrolls a device themselves)' },
          },
        },
      },
      responses: { '200': { description: 'Updated', schema: ref('User'), headers: ['ETag', 'IdempotentReplayed'] } },
      errors: ['forbidden', 'not_found', 'conflict', 'version_conflict'],
    },
  },
  '/api/v1/teams': {
    get: {
      summary: 'List teams',
      operationId: 'listTeams',
      tags: ['Teams'],
      responses: { '200': { description: 'Every team, by name', schema: listOf(ref('Team')) } },
      errors: ['unavailable'],
    },
    post: {
      summary: 'Create a team (admin)',
      operationId: 'createTeam',
      tags: ['Teams'],
      write: true,
      body: {
        schema: { type: 'object', additionalProperties: false, required: ['name'], properties: { name } },
      },
      responses: { '201': { description: 'Created', schema: ref('Team'), headers: ['Location', 'IdempotentReplayed'] } },
      errors: ['forbidden', 'already_exists'],
    },
  },
  '/api/v1/organization': {
    get: {
      summary: 'The organization’s settings',
      operationId: 'getOrganization',
      tags: ['Organization'],
      responses: { '200': { description: 'The organization', schema: ref('Organization') } },
      errors: ['unavailable'],
    },
    patch: {
      summary: 'Change the organization’s settings (admin)',
      operationId: 'updateOrganization',
      tags: ['Organization'],
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name,
            sharingDefault: { type: 'string', enum: [...SHARING_DEFAULTS] },
            mfaRequiredRoles: { type: 'array', items: role, uniqueItems: true, description: 'Roles that must use MFA' },
          },
        },
      },
      responses: { '200': { description: 'Updated', schema: ref('Organization'), headers: ['IdempotentReplayed'] } },
      errors: ['forbidden'],
    },
  },
};

/** src/auth/api-keys.routes.ts */
export const apiKeyPaths: PathTable = {
  '/api/v1/api-keys': {
    get: {
      summary: 'List API keys (admin)',
      operationId: 'listApiKeys',
      responses: { '200': { description: 'Every key, newest first (never the key itself)', schema: listOf(ref('ApiKey')) } },
      errors: ['forbidden', 'unavailable'],
    },
    post: {
      summary: 'Create an API key (admin)',
      operationId: 'createApiKey',
      description: 'A key acts as the admin who created it, with the key’s own role.',
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            role: ref('Role'),
            expiresAt: { type: ['string', 'null'], format: 'date-time', description: 'In the future; null or absent: never' },
          },
        },
      },
      responses: {
        '201': { description: 'Created; the key is shown once', schema: ref('ApiKeyCreated'), headers: ['Location', 'IdempotentReplayed'] },
      },
      errors: ['forbidden'],
    },
  },
  '/api/v1/api-keys/{id}': {
    delete: {
      summary: 'Revoke an API key (admin)',
      operationId: 'revokeApiKey',
      description: 'Revoking a revoked key again changes nothing.',
      params: [idParam],
      write: true,
      responses: { '204': { description: 'Revoked', headers: ['IdempotentReplayed'] } },
      errors: ['forbidden', 'not_found'],
    },
  },
};
