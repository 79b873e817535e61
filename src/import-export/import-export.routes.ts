import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../http/errors.ts';
import { actorOf } from '../http/request-context.ts';
import { objectDef } from '../objects/registry.ts';
import { requestCtx } from '../records/records.routes.ts';
import { pipelineReport } from '../reports/pipeline.ts';
import { prepareExport } from './export.service.ts';
import { getImport, type ImportDeps, listImports, runImport } from './import.service.ts';

const CSV_TYPE = /^text\/csv\s*(?:;.*)?$/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

type ObjectParams = { object: string };

/**
 * Bulk import/export, import jobs, and the pipeline report. The CSV content-type parser
 * lives in this encapsulated scope only: it hands the raw request stream to the import
 * handler, which reads it batch by batch (the body limit of JSON routes does not apply).
 */
export async function registerImportExportRoutes(app: FastifyInstance, deps: ImportDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser(CSV_TYPE, (req, payload, done) => {
      const charset = CHARSET.exec(String(req.headers['content-type']))?.[1].toLowerCase();
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        done(new AppError('unsupported_media_type', 'Send the CSV encoded as UTF-8 (charset=utf-8).'), undefined);
        return;
      }
      done(null, payload);
    });

    scope.post<{ Params: ObjectParams }>('/api/v1/:object/import', async (req, reply) => {
      const object = objectDef(req.params.object).name;
      const upload = csvUpload(req);
      const result = await runImport(deps, requestCtx(req, deps.writeDeadlineMs), object, req.query as Record<string, unknown>, upload);
      if (result.replayed) reply.header('Idempotent-Replayed', 'true');
      reply.header('Location', `/api/v1/imports/${result.job.id}`);
      return reply.code(result.status).send(result.job);
    });

    scope.get<{ Params: ObjectParams }>('/api/v1/:object/export', async (req, reply) => {
      const object = objectDef(req.params.object).name;
      const exp = await prepareExport(deps.pool, actorOf(req), object, req.query as Record<string, unknown>);
      reply.header('Content-Disposition', `attachment; filename="${exp.filename}"`);
      reply.type(exp.contentType);
      return reply.send(exp.stream);
    });

    scope.get('/api/v1/imports', async (req) => listImports(deps.pool, actorOf(req), req.query as Record<string, unknown>));
    scope.get<{ Params: { id: string } }>('/api/v1/imports/:id', async (req) => getImport(deps.pool, actorOf(req), req.params.id));

    scope.get('/api/v1/reports/pipeline', async (req) => pipelineReport(deps.pool, actorOf(req), req.query as Record<string, unknown>));
  });
}

function csvUpload(req: FastifyRequest): AsyncIterable<Buffer> {
  const body = req.body;
  if (body instanceof Readable) return body;
  // An empty CSV body is not parsed at all; the import then says the file is empty.
  if (body === undefined && CSV_TYPE.test(String(req.headers['content-type']))) return Readable.from([]);
  if (body === undefined && !req.headers['content-type']) {
    throw new AppError('bad_request', 'Send the CSV file as the request body with Content-Type: text/csv.');
  }
  throw new AppError('unsupported_media_type', 'Send the CSV file as the request body with Content-Type: text/csv (UTF-8).');
}
