import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, errorPaths, expectProblem, MISSING_ID } from '../records/helpers.ts';
import { startTestApp, type TestApp, type UserFixture, sealAudit } from '../support/harness.ts';

/** Saved list views: personal, validated against the object's fields, written through the write path. */

let t: TestApp;
let admin: Api;
let rep: UserFixture;
let repApi: Api;

const definition = {
  columns: ['name', 'stage', 'amount'],
  filters: [{ field: 'stage', op: 'in', value: 'proposal,negotiation' }],
  sort: '-amount,name',
};

beforeAll(async () => {
  t = await startTestApp();
  admin = new Api(t, t.org.token);
  rep = await t.createUser(t.org.orgId, 'rep');
  repApi = new Api(t, rep.token);
});
afterAll(async () => t?.close());

describe('saved views: create, list, change, delete', () => {
  it('round-trips a view, with ETag, Location, audit entries and events in the same transaction', async () => {
    const created = await repApi.post('/api/v1/views', { object: 'opportunities', name: 'Late stage', definition });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ object: 'opportunities', name: 'Late stage', definition, version: 1 });
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.headers.get('location')).toBe(`/api/v1/views/${created.body.id}`);
    const id = created.body.id as string;

    const list = await repApi.get('/api/v1/views?object=opportunities');
    expect(list.body.data.map((v: { id: string }) => v.id)).toEqual([id]);
    expect((await repApi.get('/api/v1/views?object=contacts')).body.data).toEqual([]);
    expect((await repApi.get('/api/v1/views')).body.data).toHaveLength(1);
    expect((await repApi.get(`/api/v1/views/${id}`)).headers.get('etag')).toBe('"1"');

    const renamed = await repApi.patch(`/api/v1/views/${id}`, { name: 'Late-stage deals' }, 1);
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Late-stage deals', version: 2, definition });
    const redefined = await repApi.patch(`/api/v1/views/${id}`, { definition: { ...definition, filters: [] } });
    expect(redefined.body).toMatchObject({ version: 3, definition: { columns: definition.columns, filters: [], sort: '-amount,name' } });
    // A stale If-Match is refused, nothing is written.
    const stale = await repApi.patch(`/api/v1/views/${id}`, { name: 'Stale' }, 1);
    expectProblem(stale, 412, 'version_conflict');
    expect((await repApi.get(`/api/v1/views/${id}`)).body.name).toBe('Late-stage deals');

    expect((await repApi.delete(`/api/v1/views/${id}`, 3)).status).toBe(204);
    expectProblem(await repApi.get(`/api/v1/views/${id}`), 404, 'not_found');

    await sealAudit(t.admin);
    const audit = await t.admin.query("SELECT action FROM audit_log WHERE object = 'views' AND record_id = $1 ORDER BY seq", [id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['create', 'update', 'update', 'delete']);
    const events = await t.admin.query("SELECT type FROM outbox WHERE object = 'views' AND record_id = $1 ORDER BY seq", [id]);
    expect(events.rows.map((r) => r.type)).toEqual(['view.created', 'view.updated', 'view.updated', 'view.deleted']);
    expect((await admin.get('/api/v1/audit/verify')).body.valid).toBe(true);
  });

  it('defaults filters and sort, keeps custom fields, and replays an Idempotency-Key', async () => {
    expect((await admin.post('/api/v1/metadata/objects/contacts/fields', { name: 'shoeSize', label: 'Shoe size', type: 'number' })).status).toBe(201);
    const headers = { 'idempotency-key': 'view-key-1' };
    const body = { object: 'contacts', name: 'Big feet', definition: { columns: ['lastName', 'shoeSize'], filters: [{ field: 'shoeSize', op: 'gte', value: '45' }] } };
    const first = await repApi.post('/api/v1/views', body, headers);
    expect(first.status, first.text).toBe(201);
    expect(first.body.definition).toEqual({ ...body.definition, sort: '-createdAt' });
    const again = await repApi.post('/api/v1/views', body, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
  });

  it('names are unique per user and object (case-insensitive), but two users may use the same name', async () => {
    const body = { object: 'accounts', name: 'Mine', definition: { columns: ['name'] } };
    expect((await repApi.post('/api/v1/views', body)).status).toBe(201);
    expectProblem(await repApi.post('/api/v1/views', { ...body, name: 'MINE' }), 409, 'already_exists');
    expect((await repApi.post('/api/v1/views', { ...body, object: 'contacts', definition: { columns: ['lastName'] } })).status).toBe(201);
    expect((await admin.post('/api/v1/views', body)).status).toBe(201);
    const other = await repApi.post('/api/v1/views', { ...body, name: 'Other' });
    expectProblem(await repApi.patch(`/api/v1/views/${other.body.id}`, { name: 'mine' }), 409, 'already_exists');
  });
});

describe('saved views are personal', () => {
  it('another user neither sees, changes nor deletes them (404, as for a view that does not exist)', async () => {
    const mine = await repApi.post('/api/v1/views', { object: 'leads', name: 'Hot leads', definition: { columns: ['lastName'] } });
    const id = mine.body.id as string;
    const colleague = new Api(t, (await t.createUser(t.org.orgId, 'rep')).token);
    for (const api of [colleague, admin]) {
      expect((await api.get('/api/v1/views?object=leads')).body.data.map((v: { id: string }) => v.id)).not.toContain(id);
      expectProblem(await api.get(`/api/v1/views/${id}`), 404, 'not_found');
      expectProblem(await api.patch(`/api/v1/views/${id}`, { name: 'Taken' }), 404, 'not_found');
      expectProblem(await api.delete(`/api/v1/views/${id}`), 404, 'not_found');
    }
    const otherOrg = new Api(t, (await t.createOrg('Elsewhere')).token);
    expectProblem(await otherOrg.get(`/api/v1/views/${id}`), 404, 'not_found');
    expect((await repApi.get(`/api/v1/views/${id}`)).body.name).toBe('Hot leads');
  });

  it('row-level security enforces the owner even for a query without WHERE', async () => {
    const client = await t.pool.connect();
    try {
      await client.query(`BEGIN; SELECT set_config('basalt.org_id', '${t.org.orgId}', true), set_config('basalt.user_id', '${t.org.adminId}', true)`);
      const rows = await client.query('SELECT user_id FROM saved_views');
      expect(rows.rows.every((r) => r.user_id === t.org.adminId)).toBe(true);
      const owners = await t.admin.query('SELECT DISTINCT user_id FROM saved_views');
      expect(owners.rows.length).toBeGreaterThan(1);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

describe('saved views are validated', () => {
  const post = (body: unknown) => repApi.post('/api/v1/views', body);
  it('refuses unknown objects, fields, operators, values, sorts and oversized definitions with 400', async () => {
    expect(errorPaths(await post({ object: 'widgets', name: 'x', definition }))).toEqual(['object']);
    expect(errorPaths(await post({ object: 'opportunities', name: '', definition }))).toEqual(['name']);
    expect(errorPaths(await post({ object: 'opportunities', name: 'x'.repeat(101), definition }))).toEqual(['name']);
    expect(errorPaths(await post({ object: 'opportunities', name: 'x' }))).toEqual(['definition']);
    expect(errorPaths(await post({ object: 'opportunities', name: 'x', definition, extra: 1 }))).toEqual(['extra']);
    const def = (d: Record<string, unknown>) => post({ object: 'opportunities', name: 'x', definition: { ...definition, ...d } });
    expect(errorPaths(await def({ columns: ['name', 'nope'] }))).toEqual(['definition.columns[1]']);
    expect(errorPaths(await def({ columns: [] }))).toEqual(['definition.columns']);
    expect(errorPaths(await def({ columns: ['name', 'name'] }))).toEqual(['definition.columns[1]']);
    expect(errorPaths(await def({ filters: [{ field: 'nope', op: 'eq', value: '1' }] }))).toEqual(['definition.filters[0]']);
    expect(errorPaths(await def({ filters: [{ field: 'amount', op: 'contains', value: '1' }] }))).toEqual(['definition.filters[0]']);
    expect(errorPaths(await def({ filters: [definition.filters[0], { field: 'amount', op: 'gt', value: 'lots' }] }))).toEqual(['definition.filters[1]']);
    expect(errorPaths(await def({ filters: [{ field: 'stage', op: 'eq', value: 3 }] }))).toEqual(['definition.filters[0]']);
    expect(errorPaths(await def({ filters: Array.from({ length: 21 }, () => definition.filters[0]) }))).toEqual(['definition.filters']);
    expect(errorPaths(await def({ sort: '-nope' }))).toEqual(['definition.sort']);
    expect(errorPaths(await def({ layout: 'grid' }))).toEqual(['definition.layout']);
    expect(errorPaths(await def({ filters: [{ field: 'name', op: 'in', value: 'x'.repeat(20_000) }] }))).toEqual(['definition']);
    expect(errorPaths(await post({ object: 'opportunities', name: 'x', definition: [] }))).toEqual(['definition']);
    expectProblem(await repApi.patch(`/api/v1/views/${MISSING_ID}`, { name: 'x' }), 404, 'not_found');
    expectProblem(await repApi.patch('/api/v1/views/not-a-uuid', { name: 'x' }), 404, 'not_found');
    expect(errorPaths(await repApi.get('/api/v1/views?object=widgets'))).toEqual(['object']);
    expect(errorPaths(await repApi.get('/api/v1/views?sort=name'))).toEqual(['sort']);
  });

  it('an object the role may not read cannot have views', async () => {
    const agent = new Api(t, (await t.createUser(t.org.orgId, 'agent')).token);
    expectProblem(await agent.post('/api/v1/views', { object: 'leads', name: 'x', definition: { columns: ['lastName'] } }), 403, 'forbidden');
  });
});
