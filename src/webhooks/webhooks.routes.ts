import type { FastifyInstance, FastifyRequest } from 'fastify';
import { actorOf } from '../http/request-context.ts';
import { requestCtx, sendWrite } from '../records/records.routes.ts';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  replayDelivery,
  type WebhooksDeps,
} from './webhooks.service.ts';

type Params = { id: string; deliveryId: string };

export function registerWebhookRoutes(app: FastifyInstance, deps: WebhooksDeps & { writeDeadlineMs: number }): void {
  const ctx = (req: FastifyRequest) => requestCtx(req, deps.writeDeadlineMs);

  app.post('/api/v1/webhooks', async (req, reply) => sendWrite(reply, await createWebhook(deps, ctx(req), req.body)));

  app.get('/api/v1/webhooks', async (req) => listWebhooks(deps, actorOf(req)));

  app.get<{ Params: Params }>('/api/v1/webhooks/:id', async (req) => getWebhook(deps, actorOf(req), req.params.id));

  app.delete<{ Params: Params }>('/api/v1/webhooks/:id', async (req, reply) =>
    sendWrite(reply, await deleteWebhook(deps, ctx(req), req.params.id)),
  );

  app.get<{ Params: Params }>('/api/v1/webhooks/:id/deliveries', async (req) =>
    listDeliveries(deps, actorOf(req), req.params.id, req.query as Record<string, unknown>),
  );

  app.post<{ Params: Params }>('/api/v1/webhooks/:id/deliveries/:deliveryId/replay', async (req, reply) =>
    sendWrite(reply, await replayDelivery(deps, ctx(req), req.params.id, req.params.deliveryId)),
  );
}
