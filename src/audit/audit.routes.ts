import type { FastifyInstance } from 'fastify';
import type { Pool } from '../db/pool.ts';
import { actorOf } from '../http/request-context.ts';
import { listAudit, verifyAuditChain } from './audit.service.ts';

export function registerAuditRoutes(app: FastifyInstance, deps: { pool: Pool }): void {
  app.get('/api/v1/audit', async (req) => listAudit(deps.pool, actorOf(req), req.query as Record<string, unknown>));
  app.get('/api/v1/audit/verify', async (req) => verifyAuditChain(deps.pool, actorOf(req)));
}
