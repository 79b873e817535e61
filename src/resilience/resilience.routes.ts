import type { FastifyInstance } from 'fastify';
import { actorOf } from '../http/request-context.ts';
import { type RecordsRouteDeps, requestCtx, sendWrite } from '../records/records.routes.ts';
import { listExperiments, recordExperiment } from './resilience.service.ts';

/**
 * Chaos experiment history (what the resilience dashboard shows):
 * GET  /api/v1/resilience/experiments — any signed-in user, newest first, paged.
 * POST /api/v1/resilience/experiments — admins (the chaos runner), through the write path.
 */
export function registerResilienceRoutes(app: FastifyInstance, deps: RecordsRouteDeps): void {
  app.get('/api/v1/resilience/experiments', async (req) =>
    listExperiments(deps.pool, actorOf(req), req.query as Record<string, unknown>),
  );
  app.post('/api/v1/resilience/experiments', async (req, reply) =>
    sendWrite(reply, await recordExperiment(deps, requestCtx(req, deps.writeDeadlineMs), req.body)),
  );
}
