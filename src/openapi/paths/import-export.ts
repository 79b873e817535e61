import { UPSERT_KEYS } from '../../import-export/mapping.ts';
import type { ResolvedObject } from '../../objects/registry.ts';
import { idParam, listOf, type PathTable, query, ref } from '../shared.ts';
import { cap, listQueryParams } from './records.ts';

/** src/import-export/import-export.routes.ts: CSV import jobs and streaming export, per object. */
export function importExportPaths(objects: ResolvedObject[]): PathTable {
  const table: PathTable = {};
  for (const obj of objects) {
    const keys = UPSERT_KEYS[obj.def.name] ?? [];
    const tags = [obj.def.labelPlural];
    table[`/api/v1/${obj.def.name}/import`] = {
      post: {
        tags,
        summary: `Import ${obj.def.labelPlural.toLowerCase()} from CSV`,
        operationId: `import${cap(obj.def.name)}`,
        description:
          'The CSV (UTF-8, header row first) is the request body; it streams in batches of 2000 rows, each committed ' +
          'on its own. Columns map by field name or label unless map[column]=field says otherwise (empty: ignore). ' +
          'Rejected rows are reported on the job. With an Idempotency-Key the same upload replays the finished job ' +
          '(200) or resumes an interrupted one.',
        params: [
          query('mode', { type: 'string', enum: ['insert', 'upsert'], default: 'insert' }, 'upsert when upsertBy is given'),
          ...(keys.length ? [query('upsertBy', { type: 'string', enum: [...keys] }, 'The field that identifies an existing record (mode=upsert)')] : []),
          {
            name: 'map',
            in: 'query',
            required: false,
            style: 'deepObject',
            explode: true,
            schema: { type: 'object', additionalProperties: { type: 'string' } },
            description: 'map[CSV column]=field name ("" ignores the column)',
          },
        ],
        write: true,
        body: { contentType: 'text/csv', schema: { type: 'string' }, description: 'Content-Type: text/csv; charset=utf-8' },
        responses: {
          '201': { description: 'The finished job', schema: ref('ImportJob'), headers: ['Location'] },
          '200': {
            description: 'The same upload again: the finished job (replayed) or the resumed one',
            schema: ref('ImportJob'),
            headers: ['Location', 'IdempotentReplayed'],
          },
        },
        errors: ['validation_failed', 'forbidden', 'not_found', 'unsupported_media_type'],
      },
    };
    table[`/api/v1/${obj.def.name}/export`] = {
      get: {
        tags,
        summary: `Export ${obj.def.labelPlural.toLowerCase()} (CSV or NDJSON, streamed)`,
        operationId: `export${cap(obj.def.name)}`,
        description: 'Every matching record, one consistent snapshot; the list filters, sort, fields and deleted apply.',
        params: [query('format', { type: 'string', enum: ['csv', 'ndjson'], default: 'csv' }), ...listQueryParams(obj, { paged: false })],
        responses: {
          '200': {
            description: 'A file download',
            headers: ['ContentDisposition'],
            content: { 'text/csv': { type: 'string' }, 'application/x-ndjson': { type: 'string' } },
          },
        },
        errors: ['validation_failed', 'forbidden', 'not_found', 'unavailable'],
      },
    };
  }
  table['/api/v1/imports'] = {
    get: {
      tags: ['Imports'],
      summary: 'Import jobs, newest first (admins: all; others: their own)',
      operationId: 'listImports',
      params: [
        query('idempotencyKey', { type: 'string' }, 'Only the job started with this Idempotency-Key (by you)'),
        { ...query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 }) },
      ],
      responses: { '200': { description: 'Jobs (without their row errors)', schema: listOf(ref('ImportJob')) } },
      errors: ['validation_failed', 'unavailable'],
    },
  };
  table['/api/v1/imports/{id}'] = {
    get: {
      tags: ['Imports'],
      summary: 'One import job and its rejected rows',
      operationId: 'getImport',
      params: [idParam],
      responses: { '200': { description: 'The job', schema: ref('ImportJob') } },
      errors: ['not_found', 'unavailable'],
    },
  };
  return table;
}
