import { idParam, ifMatch, listOf, type PathTable, query, ref } from '../shared.ts';

/** src/views/views.routes.ts: the caller's saved list views (personal to their owner). */
const name = { type: 'string', minLength: 1, maxLength: 100 };
const STALE = 'Optional: the ETag you last read; a stale one is 412.';

export const viewPaths: PathTable = {
  '/api/v1/views': {
    get: {
      summary: 'Your saved views',
      operationId: 'listViews',
      params: [query('object', { type: 'string' }, 'Only the views of this object')],
      responses: { '200': { description: 'By object and name (at most 1000)', schema: listOf(ref('SavedView')) } },
      errors: ['validation_failed', 'forbidden', 'unavailable'],
    },
    post: {
      summary: 'Save a view',
      operationId: 'createView',
      write: true,
      body: {
        schema: {
          type: 'object',
          additionalProperties: false,
          required: ['object', 'name', 'definition'],
          properties: { object: { type: 'string', description: 'e.g. opportunities' }, name, definition: ref('ViewDefinition') },
        },
      },
      responses: { '201': { description: 'Saved', schema: ref('SavedView'), headers: ['ETag', 'Location', 'IdempotentReplayed'] } },
      errors: ['forbidden', 'already_exists', 'conflict'],
    },
  },
  '/api/v1/views/{id}': {
    get: {
      summary: 'Read one of your views',
      operationId: 'getView',
      params: [idParam],
      responses: { '200': { description: 'The view', schema: ref('SavedView'), headers: ['ETag'] } },
      errors: ['not_found', 'unavailable'],
    },
    patch: {
      summary: 'Rename a view or change its definition',
      operationId: 'updateView',
      params: [idParam, ifMatch(false, STALE)],
      write: true,
      body: {
        schema: { type: 'object', additionalProperties: false, properties: { name, definition: ref('ViewDefinition') } },
      },
      responses: { '200': { description: 'Updated', schema: ref('SavedView'), headers: ['ETag', 'IdempotentReplayed'] } },
      errors: ['not_found', 'already_exists', 'version_conflict'],
    },
    delete: {
      summary: 'Delete a view',
      operationId: 'deleteView',
      params: [idParam, ifMatch(false, STALE)],
      write: true,
      responses: { '204': { description: 'Deleted', headers: ['IdempotentReplayed'] } },
      errors: ['not_found', 'version_conflict'],
    },
  },
};
