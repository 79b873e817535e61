import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { type BasaltServer, buildServer } from '../../src/server.ts';
import { type HttpResult, httpRequest, startTestApp, type TestApp } from '../support/harness.ts';

/**
 * Custom fields are cached per (organization, metadata version) on each node
 * (docs/decisions/0010-metadata-version-cache.md). Two app instances on one database, each
 * with its own pool and cache: a change made through one, or by SQL, is seen by the very
 * next request on the other.
 */
let t: TestApp;
let poolB: Pool;
let serverB: BasaltServer;
let urlB: string;

const FIELDS_URL = '/api/v1/metadata/objects/accounts/fields';

function onB<T = unknown>(method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
  return httpRequest<T>(urlB, method, path, { token: t.org.token, body });
}

async function version(orgId: string): Promise<bigint> {
  const res = await t.admin.query('SELECT metadata_version FROM organizations WHERE id = $1', [orgId]);
  return BigInt(res.rows[0].metadata_version);
}

const fieldNames = (res: HttpResult<{ fields: { name: string }[] }>) => res.body.fields.map((f) => f.name);

beforeAll(async () => {
  t = await startTestApp();
  poolB = createPool({
    url: t.appUrl,
    max: 4,
    connectTimeoutMs: t.config.connectTimeoutMs,
    statementTimeoutMs: t.config.statementTimeoutMs,
    applicationName: 'basalt-test-b',
  });
  serverB = await buildServer({ config: t.config, pool: poolB, lifecycle: t.lifecycle, logger: false });
  await serverB.app.listen({ port: 0, host: '127.0.0.1' });
  urlB = `http://127.0.0.1:${(serverB.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await serverB?.app.close();
  await poolB?.end();
  await t?.close();
});

describe('custom fields across app instances', () => {
  it('a field added on one instance is used by the very next request on another', async () => {
    const created = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'Cached Co' } });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    // Warm B's cache for this organization.
    expect((await onB('GET', `/api/v1/accounts/${id}`)).status).toBe(200);
    expect(fieldNames(await onB('GET', '/api/v1/metadata/objects/accounts'))).not.toContain('region');
    const before = await version(t.org.orgId);

    const field = await t.request('POST', FIELDS_URL, { token: t.org.token, body: { name: 'region', label: 'Region', type: 'text' } });
    expect(field.status, field.text).toBe(201);
    expect(await version(t.org.orgId)).toBeGreaterThan(before);
    const patched = await t.request('PATCH', `/api/v1/accounts/${id}`, {
      token: t.org.token,
      body: { region: 'EMEA' },
      headers: { 'if-match': created.headers.get('etag') ?? '' },
    });
    expect(patched.status, patched.text).toBe(200);

    const read = await onB<{ region: string | null }>('GET', `/api/v1/accounts/${id}`);
    expect(read.status, read.text).toBe(200);
    expect(read.body.region).toBe('EMEA');
    expect(fieldNames(await onB('GET', '/api/v1/metadata/objects/accounts'))).toContain('region');
    const list = await onB<{ data: { id: string }[] }>('GET', '/api/v1/accounts?filter[region]=EMEA');
    expect(list.status, list.text).toBe(200);
    expect(list.body.data.map((r) => r.id)).toEqual([id]);
  });

  it('a field removed by SQL disappears from the next request on every instance', async () => {
    for (const get of [(p: string) => t.request('GET', p, { token: t.org.token }), (p: string) => onB('GET', p)]) {
      expect(fieldNames(await get('/api/v1/metadata/objects/accounts'))).toContain('region');
    }
    await t.admin.query("DELETE FROM field_definitions WHERE organization_id = $1 AND object = 'accounts' AND name = 'region'", [t.org.orgId]);
    for (const get of [(p: string) => t.request('GET', p, { token: t.org.token }), (p: string) => onB('GET', p)]) {
      expect(fieldNames(await get('/api/v1/metadata/objects/accounts'))).not.toContain('region');
      const list = await get('/api/v1/accounts?filter[region]=EMEA');
      expect(list.status).toBe(400);
    }
  });

  it('a change bumps only its own organization, and versions never repeat', async () => {
    const other = await t.createOrg('Other Org');
    const mine = await version(t.org.orgId);
    const theirs = await version(other.orgId);
    const res = await t.request('POST', FIELDS_URL, { token: other.token, body: { name: 'tier', label: 'Tier', type: 'text' } });
    expect(res.status, res.text).toBe(201);
    expect(await version(t.org.orgId)).toBe(mine);
    const bumped = await version(other.orgId);
    expect(bumped).toBeGreaterThan(theirs);
    // Rolled back: the version goes back with it, and the next change takes a new value.
    await t.admin.query('BEGIN');
    await t.admin.query("UPDATE field_definitions SET label = 'Tier 2' WHERE organization_id = $1", [other.orgId]);
    const lost = await t.admin.query('SELECT metadata_version FROM organizations WHERE id = $1', [other.orgId]);
    await t.admin.query('ROLLBACK');
    expect(await version(other.orgId)).toBe(bumped);
    await t.admin.query("UPDATE field_definitions SET label = 'Tier 3' WHERE organization_id = $1", [other.orgId]);
    const next = await version(other.orgId);
    expect(next).toBeGreaterThan(bumped);
    expect(next).not.toBe(BigInt(lost.rows[0].metadata_version));
    const described = await t.request('GET', '/api/v1/metadata/objects/accounts', { token: other.token });
    expect((described.body.fields as { name: string; label: string }[]).find((f) => f.name === 'tier')?.label).toBe('Tier 3');
  });
});
