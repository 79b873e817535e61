import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('health, docs and the OpenAPI document', () => {
  it('/livez and /readyz answer without authentication', async () => {
    expect((await t.request('GET', '/livez')).status).toBe(200);
    const ready = await t.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
  });

  it('/readyz answers 503 while draining', async () => {
    t.lifecycle.draining = true;
    try {
      const res = await t.request('GET', '/readyz');
      expect(res.status).toBe(503);
    } finally {
      t.lifecycle.draining = false;
    }
  });

  it('/metrics is Prometheus text', async () => {
    const res = await t.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toContain('basalt_http_request_duration_seconds');
  });

  it('serves OpenAPI 3.1 generated from the object declarations', async () => {
    const res = await t.request('GET', '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    for (const name of ['Account', 'Contact', 'Lead', 'Opportunity', 'Case', 'Activity']) {
      expect(res.body.components.schemas[name]).toBeDefined();
      expect(res.body.components.schemas[`${name}Create`].additionalProperties).toBe(false);
    }
    expect(res.body.components.schemas.LeadCreate.properties.status.enum).toContain('qualified');
    expect(res.body.paths['/api/v1/opportunities/{id}'].patch).toBeDefined();
  });

  it('serves interactive docs at /api/docs', async () => {
    const res = await t.request('GET', '/api/docs/');
    expect(res.status).toBe(200);
    expect(res.text.toLowerCase()).toContain('swagger');
  });

  it('guards API routes by default and answers problem+json', async () => {
    const res = await t.request('GET', '/api/v1/accounts');
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('unauthenticated');
    const bad = await t.request('GET', '/api/v1/accounts', { token: 'not-a-token' });
    expect(bad.status).toBe(401);
  });

  it('echoes a client request id and makes one otherwise', async () => {
    const echoed = await t.request('GET', '/livez', { headers: { 'x-request-id': 'trace-abc-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-abc-123');
    const made = await t.request('GET', '/livez');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
