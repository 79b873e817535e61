import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import client from 'prom-client';
import { registerAuditRoutes } from './audit/audit.routes.ts';
import type { AuthDeps } from './auth/auth.service.ts';
import { authenticate, identityDeps } from './auth/auth.service.ts';
import { registerApiKeyRoutes } from './auth/api-keys.routes.ts';
import { registerUserRoutes } from './users/users.routes.ts';
import { registerAuthRoutes } from './auth/auth.routes.ts';
import { KeyStore } from './auth/keys.ts';
import type { Config } from './config/config.ts';
import type { Pool } from './db/pool.ts';
import { withTenant } from './db/session.ts';
import { type Lifecycle, registerHealthRoutes } from './health/health.routes.ts';
import { createEventHub, type EventHub } from './events/pipeline.ts';
import { createHttpServer } from './http/app.ts';
import { registerImportExportRoutes } from './import-export/import-export.routes.ts';
import { registerMetadataRoutes } from './metadata/metadata.routes.ts';
import { STANDARD_OBJECTS } from './objects/definitions.ts';
import { loadAllObjects, resolveObject } from './objects/registry.ts';
import { buildOpenApi } from './openapi/openapi.ts';
import { type RecordsRouteDeps, registerRecordRoutes } from './records/records.routes.ts';
import { registerViewRoutes } from './views/views.routes.ts';
import { registerWebhookRoutes } from './webhooks/webhooks.routes.ts';
import { registerWebUi } from './web/web.plugin.ts';
import { registerResilienceRoutes } from './resilience/resilience.routes.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface ServerDeps {
  config: Config;
  /** Pool of the restricted application role (request traffic). */
  pool: Pool;
  lifecycle: Lifecycle;
  logger?: boolean | object;
}

export interface BasaltServer {
  app: FastifyInstance;
  keys: KeyStore;
  metrics: client.Registry;
  /** Wake-ups and the in-process event bus, shared with the event pipeline (src/main.ts). */
  events: EventHub;
  /** Every route as registered (method, URL pattern): what the OpenAPI coverage test checks. */
  routes: { method: string; url: string }[];
}

/** Assembles the HTTP application: every route, guarded by default. */
export async function buildServer(deps: ServerDeps): Promise<BasaltServer> {
  const { config, pool } = deps;
  const app = createHttpServer({ config, logger: deps.logger });
  const routes: BasaltServer['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  const metrics = new client.Registry();
  client.collectDefaultMetrics({ register: metrics });
  const httpDuration = new client.Histogram({
    name: 'basalt_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [metrics],
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const keys = new KeyStore(pool, config.signingKeyRotationDays, config.accessTokenTtlSeconds);
  await keys.ensureSigningKey();
  const authDeps: AuthDeps = {
    pool,
    keys,
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
  };

  // Deny by default: every route authenticates unless it is declared public.
  app.addHook('preHandler', async (req) => {
    if (req.routeOptions.config?.public) return;
    req.actor = await authenticate(authDeps, req.headers.authorization);
  });

  const events = createEventHub();
  const recordDeps: RecordsRouteDeps = {
    onCommitted: () => {
      events.relayDoorbell.ring();
      events.sealDoorbell.ring();
    },
    pool,
    writeDeadlineMs: config.writeDeadlineMs,
    requireIfMatchOnPatch: config.requireIfMatchOnPatch,
    log: app.log,
  };

  registerHealthRoutes(app, pool, deps.lifecycle, metrics);
  registerAuthRoutes(app, identityDeps(authDeps, config, app.log));
  registerApiKeyRoutes(app, identityDeps(authDeps, config, app.log));
  registerUserRoutes(app, identityDeps(authDeps, config, app.log));
  registerMetadataRoutes(app, recordDeps);
  registerViewRoutes(app, recordDeps);
  registerRecordRoutes(app, recordDeps);
  await registerImportExportRoutes(app, recordDeps);
  registerResilienceRoutes(app, recordDeps);
  registerWebhookRoutes(app, { ...recordDeps, wakeDeliveries: () => events.deliveryDoorbell.ring() });
  registerAuditRoutes(app, { pool });
  await registerWebUi(app);

  const standardDoc = buildOpenApi(
    STANDARD_OBJECTS.map((d) => resolveObject(d, [])),
    { version: VERSION },
  );
  // Interactive docs at /api/docs (public: they describe the API, not anyone's data).
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...(route.config ?? {}), public: true };
    });
    await docs.register(swagger, { mode: 'static', specification: { document: standardDoc as never } });
    await docs.register(swaggerUi, { routePrefix: '/api/docs' });
  });

  app.get('/api/v1/openapi.json', { config: { public: true } }, async (req) => {
    // Signed in: the document includes the organization's custom fields.
    if (!req.headers.authorization) return standardDoc;
    const actor = await authenticate(authDeps, req.headers.authorization);
    const objects = await withTenant(pool, actor, (c) => loadAllObjects(c), { readOnly: true });
    return buildOpenApi(objects, { version: VERSION });
  });

  return { app, keys, metrics, events, routes };
}
