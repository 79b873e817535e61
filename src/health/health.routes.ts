import type { FastifyInstance } from 'fastify';
import type client from 'prom-client';
import type { Pool } from '../db/pool.ts';

export interface Lifecycle {
  /** Set on SIGTERM: /readyz answers 503 so load balancers stop sending new requests. */
  draining: boolean;
  expectedMigration: number;
}

export function registerHealthRoutes(app: FastifyInstance, pool: Pool, life: Lifecycle, registry: client.Registry): void {
  // While draining, every response closes its connection: keep-alive clients (load
  // balancers) reconnect elsewhere, and the server's close is not held up for the
  // keep-alive timeout by connections that went idle after it began.
  app.addHook('onSend', async (_req, reply) => {
    if (life.draining) reply.header('Connection', 'close');
  });

  app.get('/livez', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    if (life.draining) return reply.code(503).send({ status: 'draining' });
    try {
      const res = await pool.query('SELECT max(version) AS v FROM schema_migrations');
      if (Number(res.rows[0].v) < life.expectedMigration) {
        return reply.code(503).send({ status: 'migrations_pending' });
      }
      return { status: 'ready', migration: Number(res.rows[0].v) };
    } catch {
      return reply.code(503).send({ status: 'database_unreachable' });
    }
  });

  app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
}
