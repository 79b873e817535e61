import { type PathTable, ref } from '../shared.ts';

/** The document itself (src/server.ts) and the health endpoints (src/health/health.routes.ts). */
export const systemPaths: PathTable = {
  '/api/v1/openapi.json': {
    get: {
      tags: ['Meta'],
      summary: 'This OpenAPI document',
      operationId: 'openapi',
      description: 'Signed in, the record schemas include the organization’s custom fields.',
      auth: 'optional',
      responses: { '200': { description: 'OpenAPI 3.1', schema: { type: 'object' } } },
      errors: ['unavailable'],
    },
  },
  '/livez': {
    get: {
      summary: 'Liveness',
      operationId: 'livez',
      auth: 'none',
      responses: { '200': { description: 'The process is up', schema: ref('HealthStatus') } },
    },
  },
  '/readyz': {
    get: {
      summary: 'Readiness (database reachable, migrations applied, not draining)',
      operationId: 'readyz',
      auth: 'none',
      responses: {
        '200': { description: 'Ready', schema: ref('HealthStatus') },
        '503': { description: 'draining, migrations_pending or database_unreachable', schema: ref('HealthStatus') },
      },
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics',
      operationId: 'metrics',
      auth: 'none',
      responses: { '200': { description: 'Prometheus text exposition', contentType: 'text/plain', schema: { type: 'string' } } },
    },
  },
};
