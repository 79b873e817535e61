import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../http/errors.ts';
import { actorOf, headerOf, idempotencyKeyOf } from '../http/request-context.ts';
import { objectDef } from '../objects/registry.ts';
import type { WriteResult } from '../write/write-path.ts';
import { aggregateRecords, countRecords } from './aggregate.ts';
import { convertLead } from './lead-conversion.ts';
import {
  createRecord,
  deleteRecord,
  etag,
  getRecord,
  listRecords,
  parseIfMatch,
  patchRecord,
  type RecordsDeps,
  type RequestCtx,
  recordHistory,
  restoreRecord,
} from './records.service.ts';
import { searchRecords } from './search.ts';

export interface RecordsRouteDeps extends RecordsDeps {
  writeDeadlineMs: number;
  requireIfMatchOnPatch: boolean;
}

type Params = { object: string; id: string };

export function sendWrite(reply: FastifyReply, result: WriteResult): FastifyReply {
  if (result.headers) reply.headers(result.headers);
  if (result.replayed) reply.header('Idempotent-Replayed', 'true');
  reply.code(result.status);
  return result.status === 204 ? reply.send() : reply.send(result.body);
}

export function requestCtx(req: FastifyRequest, deadlineMs: number): RequestCtx {
  return {
    actor: actorOf(req),
    requestId: String(req.id),
    idempotencyKey: idempotencyKeyOf(req),
    deadlineAt: Date.now() + deadlineMs,
  };
}

export function registerRecordRoutes(app: FastifyInstance, deps: RecordsRouteDeps): void {
  const ctx = (req: FastifyRequest) => requestCtx(req, deps.writeDeadlineMs);
  const object = (req: FastifyRequest<{ Params: Partial<Params> }>) => objectDef(String(req.params.object)).name;

  app.get('/api/v1/search', async (req) => searchRecords(deps.pool, actorOf(req), req.query as Record<string, unknown>));

  app.post<{ Params: Params }>('/api/v1/leads/:id/convert', async (req, reply) =>
    sendWrite(reply, await convertLead(deps, ctx(req), req.params.id, req.body)),
  );

  app.post<{ Params: Params }>('/api/v1/:object', async (req, reply) =>
    sendWrite(reply, await createRecord(deps, ctx(req), object(req), req.body)),
  );

  app.get<{ Params: Params }>('/api/v1/:object', async (req) =>
    listRecords(deps.pool, actorOf(req), object(req), req.query as Record<string, unknown>),
  );

  // Static segments win over `:id` in the router (find-my-way), and ids are UUIDs anyway.
  app.get<{ Params: Params }>('/api/v1/:object/count', async (req) =>
    countRecords(deps.pool, actorOf(req), object(req), req.query as Record<string, unknown>),
  );

  app.get<{ Params: Params }>('/api/v1/:object/aggregate', async (req) =>
    aggregateRecords(deps.pool, actorOf(req), object(req), req.query as Record<string, unknown>),
  );

  app.get<{ Params: Params; Querystring: { deleted?: string } }>('/api/v1/:object/:id', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const unknown = Object.keys(q).filter((k) => k !== 'deleted');
    if (unknown.length || (q.deleted !== undefined && q.deleted !== 'true' && q.deleted !== 'false')) {
      throw new AppError('validation_failed', 'Only ?deleted=true|false is accepted here.', [
        { path: unknown[0] ?? 'deleted', message: 'unknown or invalid query parameter' },
      ]);
    }
    const record = await getRecord(deps.pool, actorOf(req), object(req), req.params.id, q.deleted === 'true');
    reply.header('ETag', etag(record.version as number));
    return record;
  });

  app.patch<{ Params: Params }>('/api/v1/:object/:id', async (req, reply) => {
    const ifMatch = parseIfMatch(headerOf(req, 'if-match'));
    if (ifMatch === undefined && deps.requireIfMatchOnPatch) {
      throw new AppError('precondition_required', 'Send If-Match with the ETag you last read, so no one’s change is overwritten.');
    }
    return sendWrite(reply, await patchRecord(deps, ctx(req), object(req), req.params.id, req.body, ifMatch));
  });

  app.delete<{ Params: Params }>('/api/v1/:object/:id', async (req, reply) => {
    const ifMatch = parseIfMatch(headerOf(req, 'if-match'));
    if (ifMatch === undefined) {
      throw new AppError('precondition_required', 'Send If-Match with the ETag you last read to delete a record.');
    }
    return sendWrite(reply, await deleteRecord(deps, ctx(req), object(req), req.params.id, ifMatch));
  });

  app.post<{ Params: Params }>('/api/v1/:object/:id/restore', async (req, reply) =>
    sendWrite(reply, await restoreRecord(deps, ctx(req), object(req), req.params.id)),
  );

  app.get<{ Params: Params }>('/api/v1/:object/:id/history', async (req) =>
    recordHistory(deps.pool, actorOf(req), object(req), req.params.id),
  );
}
