import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/request-context.ts';
import { requestCtx, sendWrite } from '../records/records.routes.ts';
import { createApiKey, listApiKeys, revokeApiKey } from './api-keys.service.ts';
import type { IdentityDeps } from './auth.service.ts';

export function registerApiKeyRoutes(app: FastifyInstance, deps: IdentityDeps): void {
  app.post('/api/v1/api-keys', async (req, reply) =>
    sendWrite(reply, await createApiKey(deps, requestCtx(req, deps.writeDeadlineMs), req.body)),
  );
  app.get('/api/v1/api-keys', async (req) => listApiKeys(deps.pool, actorOf(req)));
  app.delete<{ Params: { id: string } }>('/api/v1/api-keys/:id', async (req, reply) =>
    sendWrite(reply, await revokeApiKey(deps, requestCtx(req, deps.writeDeadlineMs), req.params.id)),
  );
}
