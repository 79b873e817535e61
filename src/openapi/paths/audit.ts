import { cursorParam, dateTime, limitParam, listOf, query, ref, type PathTable, uuid } from '../shared.ts';

/** src/audit/audit.routes.ts: the hash-chained audit trail (admins). */
const text = { type: 'string', minLength: 1, maxLength: 200 };

export const auditPaths: PathTable = {
  '/api/v1/audit': {
    get: {
      summary: 'The organization’s audit trail (admin)',
      operationId: 'listAudit',
      params: [
        query('object', text),
        query('recordId', uuid),
        query('actorId', uuid),
        query('action', text),
        query('from', dateTime, 'At or after (RFC 3339)'),
        query('to', dateTime, 'Before (RFC 3339)'),
        query('order', { type: 'string', enum: ['asc', 'desc'], default: 'desc' }, 'By seq'),
        limitParam(500, 50),
        { ...cursorParam, description: 'The nextCursor of the previous page (same order).' },
      ],
      responses: { '200': { description: 'A page of entries', schema: listOf(ref('AuditEntry'), true) } },
      errors: ['validation_failed', 'forbidden', 'unavailable'],
    },
  },
  '/api/v1/audit/verify': {
    get: {
      summary: 'Recompute the audit hash chain from genesis (admin)',
      operationId: 'verifyAudit',
      responses: { '200': { description: 'Whether the chain is intact, and the first bad entry if not', schema: ref('ChainVerification') } },
      errors: ['forbidden', 'unavailable'],
    },
  },
};
