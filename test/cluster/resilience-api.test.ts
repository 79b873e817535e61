import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

const sample = (experiment: string, startedAt: string, passed = true) => ({
  runId: 'run-1',
  experiment,
  title: `Experiment ${experiment}`,
  hypothesis: 'no acknowledged write is lost',
  passed,
  startedAt,
  finishedAt: Number.isNaN(Date.parse(startedAt)) ? startedAt : new Date(Date.parse(startedAt) + 30_000).toISOString(),
  metrics: { requests: 1200, errors: 0, p99Ms: 48.5, writesLost: 0 },
  details: { note: 'x' },
  environment: { host: 'test' },
});

describe('resilience experiment history', () => {
  it('an admin stores results through the write path (idempotent), anyone signed in reads them newest first, paged', async () => {
    const body = sample('api-kill', '2026-01-01T10:00:00.000Z');
    const first = await t.request('POST', '/api/v1/resilience/experiments', { token: t.org.token, body, headers: { 'Idempotency-Key': 'exp-1' } });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ experiment: 'api-kill', passed: true, metrics: { requests: 1200, p99Ms: 48.5 } });
    const again = await t.request('POST', '/api/v1/resilience/experiments', { token: t.org.token, body, headers: { 'Idempotency-Key': 'exp-1' } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);

    for (const [i, name] of ['postmaster-kill', 'patroni-kill'].entries()) {
      const r = await t.request('POST', '/api/v1/resilience/experiments', {
        token: t.org.token,
        body: sample(name, `2026-01-0${2 + i}T10:00:00.000Z`, i !== 0),
      });
      expect(r.status, r.text).toBe(201);
    }
    const reader = await t.createUser(t.org.orgId, 'readonly');
    const page1 = await t.request('GET', '/api/v1/resilience/experiments?limit=2', { token: reader.token });
    expect(page1.status, page1.text).toBe(200);
    expect(page1.body.data.map((e: { experiment: string }) => e.experiment)).toEqual(['patroni-kill', 'postmaster-kill']);
    const page2 = await t.request('GET', `/api/v1/resilience/experiments?limit=2&cursor=${page1.body.nextCursor}`, { token: reader.token });
    expect(page2.body.data.map((e: { experiment: string }) => e.experiment)).toEqual(['api-kill']);
    expect(page2.body.nextCursor).toBeNull();
    const failed = await t.request('GET', '/api/v1/resilience/experiments?passed=false', { token: reader.token });
    expect(failed.body.data.map((e: { experiment: string }) => e.experiment)).toEqual(['postmaster-kill']);
  });

  it('is per organization, admin-only to write, validated, and needs sign-in to read', async () => {
    const other = await t.createOrg('Other');
    const list = await t.request('GET', '/api/v1/resilience/experiments', { token: other.token });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
    const rep = await t.createUser(t.org.orgId, 'rep');
    const denied = await t.request('POST', '/api/v1/resilience/experiments', { token: rep.token, body: sample('x', '2026-01-01T00:00:00Z') });
    expect(denied.status).toBe(403);
    const bad = await t.request('POST', '/api/v1/resilience/experiments', {
      token: t.org.token,
      body: { ...sample('Bad Name!', 'yesterday'), extra: 1 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['experiment', 'extra', 'finishedAt', 'startedAt']);
    expect((await t.request('GET', '/api/v1/resilience/experiments?limit=0', { token: t.org.token })).status).toBe(400);
    expect((await t.request('GET', '/api/v1/resilience/experiments')).status).toBe(401);
  });
});
