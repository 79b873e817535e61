import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/request-context.ts';
import { type RecordsRouteDeps, requestCtx, sendWrite } from '../records/records.routes.ts';
import { createCustomField, getObject, listObjects } from './metadata.service.ts';

export function registerMetadataRoutes(app: FastifyInstance, deps: RecordsRouteDeps): void {
  app.get('/api/v1/metadata/objects', async (req) => listObjects(deps.pool, actorOf(req)));
  app.get<{ Params: { object: string } }>('/api/v1/metadata/objects/:object', async (req) =>
    getObject(deps.pool, actorOf(req), req.params.object),
  );
  app.post<{ Params: { object: string } }>('/api/v1/metadata/objects/:object/fields', async (req, reply) =>
    sendWrite(reply, await createCustomField(deps, requestCtx(req, deps.writeDeadlineMs), req.params.object, req.body)),
  );
}
