import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { Api, errorPaths, expectProblem, MISSING_ID, OBJECTS, SAMPLES, UUID_V7 } from './helpers.ts';

let t: TestApp;
let api: Api;
beforeAll(async () => {
  t = await startTestApp();
  api = new Api(t, t.org.token);
});
afterAll(async () => t?.close());

describe.each(OBJECTS)('%s: the record routes', (object) => {
  const sample = SAMPLES[object];
  const base = `/api/v1/${object}`;

  it('POST creates: 201, the record, ETag "1", Location', async () => {
    const res = await api.post(base, sample.create);
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.headers.get('location')).toBe(`${base}/${res.body.id}`);
    expect(res.body.id).toMatch(UUID_V7);
    expect(res.body).toMatchObject({ version: 1, ownerId: t.org.adminId, deletedAt: null });
    expect(Date.parse(res.body.createdAt)).not.toBeNaN();
    expect(res.body.createdAt).toMatch(/Z$/);
    expect(res.body.updatedAt).toBe(res.body.createdAt);
    for (const [k, v] of Object.entries(sample.create)) {
      if (k === 'annualRevenue') expect(res.body[k]).toBe('1250.50');
      else if (k === 'amount') expect(res.body[k]).toBe('1000.00');
      else if (k === 'dueAt') expect(res.body[k]).toBe('2026-04-01T09:30:00.000Z');
      else expect(res.body[k]).toEqual(v);
    }
  });

  it('GET returns the record with its ETag; unknown and malformed ids are 404', async () => {
    const created = await api.create(object, sample.create);
    const got = await api.get(`${base}/${created.id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe('"1"');
    expect(got.body).toEqual(created);
    expectProblem(await api.get(`${base}/${MISSING_ID}`), 404, 'not_found');
    expectProblem(await api.get(`${base}/not-a-uuid`), 404, 'not_found');
    expectProblem(await api.get(`${base}/${created.id}?bogus=1`), 400, 'validation_failed');
  });

  it('POST validates: required, unknown, read-only and wrongly typed fields, all at once', async () => {
    const { [sample.required]: _dropped, ...withoutRequired } = sample.create;
    const res = await api.post(base, {
      ...withoutRequired,
      bogusField: 1,
      version: 7,
      [sample.wrong[0]]: sample.wrong[1],
    });
    const paths = errorPaths(res);
    expect(paths).toEqual(expect.arrayContaining([`/${sample.required}`, '/bogusField', '/version', `/${sample.wrong[0]}`]));
    expectProblem(await api.post(base, { ...sample.create, [sample.required]: null }), 400, 'validation_failed');
    expectProblem(await api.post(base, { ...sample.create, id: MISSING_ID }), 400, 'validation_failed');
  });

  it('PATCH needs If-Match (428), applies with the current version, 404 for unknown ids', async () => {
    const rec = await api.create(object, sample.create);
    const [field, v1] = sample.edit;
    expectProblem(await api.patch(`${base}/${rec.id}`, { [field]: v1 }), 428, 'precondition_required');
    const ok = await api.patch(`${base}/${rec.id}`, { [field]: v1 }, 1);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.headers.get('etag')).toBe('"2"');
    expect(ok.body).toMatchObject({ version: 2, [field]: v1 });
    expect(Date.parse(ok.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(rec.updatedAt));
    // Weak and unquoted ETags are understood too.
    const weak = await api.patch(`${base}/${rec.id}`, { [field]: sample.edit[2] }, 'W/"2"');
    expect(weak.status, weak.text).toBe(200);
    expect(weak.body.version).toBe(3);
    // Nothing changed: same version.
    const same = await api.patch(`${base}/${rec.id}`, { [field]: sample.edit[2] }, '3');
    expect(same.status).toBe(200);
    expect(same.body.version).toBe(3);
    expectProblem(await api.patch(`${base}/${MISSING_ID}`, { [field]: v1 }, 1), 404, 'not_found');
    expectProblem(await api.patch(`${base}/nope`, { [field]: v1 }, 1), 404, 'not_found');
    expectProblem(await api.patch(`${base}/${rec.id}`, { [sample.wrong[0]]: sample.wrong[1] }, 3), 400, 'validation_failed');
    expectProblem(await api.patch(`${base}/${rec.id}`, { createdAt: '2020-01-01T00:00:00Z' }, 3), 400, 'validation_failed');
  });

  it('PATCH with a stale If-Match: 412 with conflicts and current when the field changed since, nothing written', async () => {
    const rec = await api.create(object, sample.create);
    const [field, mine, theirs] = sample.edit;
    expect((await api.patch(`${base}/${rec.id}`, { [field]: theirs }, 1)).status).toBe(200);
    const conflict = await api.patch(`${base}/${rec.id}`, { [field]: mine, [sample.other[0]]: sample.other[1] }, 1);
    expectProblem(conflict, 412, 'version_conflict');
    expect(conflict.body.conflicts).toEqual([{ field, yours: mine, theirs }]);
    expect(conflict.body.current).toMatchObject({ id: rec.id, version: 2, [field]: theirs });
    const after = await api.get(`${base}/${rec.id}`);
    expect(after.body.version).toBe(2);
    expect(after.body[field]).toBe(theirs);
    expect(after.body[sample.other[0]]).toEqual(rec[sample.other[0]]);
    // A version from the future is a conflict too.
    expectProblem(await api.patch(`${base}/${rec.id}`, { [field]: mine }, 99), 412, 'version_conflict');
  });

  it('PATCH with a stale If-Match merges when only other fields changed since', async () => {
    const rec = await api.create(object, sample.create);
    const [field, theirs] = sample.edit;
    expect((await api.patch(`${base}/${rec.id}`, { [field]: theirs }, 1)).status).toBe(200);
    const merged = await api.patch(`${base}/${rec.id}`, { [sample.other[0]]: sample.other[1] }, 1);
    expect(merged.status, merged.text).toBe(200);
    expect(merged.body).toMatchObject({ version: 3, [field]: theirs, [sample.other[0]]: sample.other[1] });
    expect(merged.headers.get('etag')).toBe('"3"');
  });

  it('DELETE needs the current If-Match, hides the record; restore brings it back', async () => {
    const rec = await api.create(object, sample.create);
    const url = `${base}/${rec.id}`;
    expectProblem(await api.delete(url), 428, 'precondition_required');
    expectProblem(await api.delete(url, 'garbage'), 400);
    expectProblem(await api.delete(url, 5), 412, 'version_conflict');
    const del = await api.delete(url, 1);
    expect(del.status, del.text).toBe(204);
    expect(del.text).toBe('');
    expectProblem(await api.get(url), 404, 'not_found');
    expectProblem(await api.patch(url, { [sample.edit[0]]: sample.edit[1] }, 2), 404, 'not_found');
    expectProblem(await api.delete(url, 2), 404, 'not_found');
    const visible = await api.get(`${base}/${rec.id}?deleted=true`);
    expect(visible.status).toBe(200);
    expect(visible.body.deletedAt).not.toBeNull();
    expect(visible.body.version).toBe(2);

    expect((await api.listAll(object)).map((r) => r.id)).not.toContain(rec.id);
    expect((await api.listAll(object, 'deleted=true')).map((r) => r.id)).toContain(rec.id);
    expect((await api.listAll(object, 'deleted=false')).map((r) => r.id)).not.toContain(rec.id);

    const restored = await api.post(`${url}/restore`);
    expect(restored.status, restored.text).toBe(200);
    expect(restored.body).toMatchObject({ id: rec.id, deletedAt: null, version: 3 });
    expect(restored.headers.get('etag')).toBe('"3"');
    expect((await api.get(url)).status).toBe(200);
    expect((await api.listAll(object)).map((r) => r.id)).toContain(rec.id);
    // Restoring a live record is a no-op.
    expect((await api.post(`${url}/restore`)).body.version).toBe(3);
    expectProblem(await api.post(`${base}/${MISSING_ID}/restore`), 404, 'not_found');
  });

  it('history lists one entry per changed field', async () => {
    const rec = await api.create(object, sample.create);
    const [field, v1] = sample.edit;
    await api.patch(`${base}/${rec.id}`, { [field]: v1, [sample.other[0]]: sample.other[1] }, 1);
    await api.delete(`${base}/${rec.id}`, 2);
    const res = await api.get(`${base}/${rec.id}/history`);
    expect(res.status, res.text).toBe(200);
    const entries = res.body.data as Record<string, any>[];
    for (const e of entries) {
      expect(e).toMatchObject({ actorId: t.org.adminId, field: expect.any(String) });
      expect(e.at).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
      expect(e).toHaveProperty('oldValue');
      expect(e).toHaveProperty('newValue');
    }
    const update = entries.filter((e) => e.action === 'update');
    expect(update.map((e) => e.field).sort()).toEqual([field, sample.other[0]].sort());
    expect(update.find((e) => e.field === field)).toMatchObject({ oldValue: rec[field] ?? null, newValue: v1, version: 2 });
    expect(entries.find((e) => e.action === 'delete')).toMatchObject({ field: 'deletedAt', oldValue: null });
    const created = entries.filter((e) => e.action === 'create');
    expect(created.map((e) => e.field)).toEqual(expect.arrayContaining(Object.keys(sample.create)));
    expectProblem(await api.get(`${base}/${MISSING_ID}/history`), 404, 'not_found');
  });
});

describe('routes in general', () => {
  it('unknown objects are 404', async () => {
    expectProblem(await api.get('/api/v1/widgets'), 404, 'not_found');
    expectProblem(await api.post('/api/v1/widgets', { name: 'x' }), 404, 'not_found');
    expectProblem(await api.get(`/api/v1/widgets/${MISSING_ID}`), 404, 'not_found');
  });

  it('requires authentication everywhere', async () => {
    const res = await t.request('GET', '/api/v1/accounts');
    expectProblem(res, 401, 'unauthenticated');
    expectProblem(await t.request('POST', '/api/v1/accounts', { body: { name: 'x' } }), 401, 'unauthenticated');
    expectProblem(await t.request('GET', '/api/v1/accounts', { token: 'garbage' }), 401, 'unauthenticated');
  });

  it('every response carries X-Request-Id, echoing a client-sent one', async () => {
    const cases: [string, string, unknown?][] = [
      ['GET', '/api/v1/accounts'],
      ['GET', `/api/v1/accounts/${MISSING_ID}`],
      ['POST', '/api/v1/accounts', { bad: 1 }],
      ['GET', '/api/v1/no-such-route/at/all'],
      ['GET', '/livez'],
      ['GET', '/api/v1/openapi.json'],
    ];
    for (const [method, path, body] of cases) {
      const generated = await t.request(method, path, { token: t.org.token, body });
      expect(generated.headers.get('x-request-id'), `${method} ${path}`).toMatch(/^[\w.:-]{8,}$/);
      const echoed = await t.request(method, path, { token: t.org.token, body, headers: { 'x-request-id': 'client-req-42' } });
      expect(echoed.headers.get('x-request-id'), `${method} ${path}`).toBe('client-req-42');
    }
    const noAuth = await t.request('GET', '/api/v1/accounts', { headers: { 'x-request-id': 'abc.123' } });
    expect(noAuth.headers.get('x-request-id')).toBe('abc.123');
    expect(noAuth.body.requestId).toBe('abc.123');
    // A header that is not a safe token is replaced, never reflected.
    const unsafe = await t.request('GET', '/api/v1/accounts', { token: t.org.token, headers: { 'x-request-id': 'a b<script>' } });
    expect(unsafe.headers.get('x-request-id')).not.toContain('<');
  });

  it('ownerId defaults to the creator and may be assigned by an admin to an active user', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    const rec = await api.create('accounts', { name: 'Owned', ownerId: rep.id });
    expect(rec.ownerId).toBe(rep.id);
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', ownerId: MISSING_ID }))).toEqual(['/ownerId']);
  });

  it('lookups must point at existing records of the organization', async () => {
    const acc = await api.create('accounts', { name: 'Parent' });
    const c = await api.create('contacts', { lastName: 'Child', accountId: acc.id });
    expect(c.accountId).toBe(acc.id);
    expect(errorPaths(await api.post('/api/v1/contacts', { lastName: 'x', accountId: MISSING_ID }))).toEqual(['/accountId']);
    expect(errorPaths(await api.post('/api/v1/contacts', { lastName: 'x', accountId: 'nope' }))).toEqual(['/accountId']);
  });

  it('closing a case stamps closedAt; reopening clears it', async () => {
    const c = await api.create('cases', { subject: 'Close me' });
    const closed = await api.patch(`/api/v1/cases/${c.id}`, { status: 'closed' }, 1);
    expect(closed.body.closedAt).toMatch(/Z$/);
    const reopened = await api.patch(`/api/v1/cases/${c.id}`, { status: 'open' }, 2);
    expect(reopened.body.closedAt).toBeNull();
  });

  it('activities relate to a record of the named object; relatedId alone can be changed later', async () => {
    const acc = await api.create('accounts', { name: 'Related' });
    const acc2 = await api.create('accounts', { name: 'Related 2' });
    const lead = await api.create('leads', { lastName: 'Related lead' });
    const act = await api.create('activities', { subject: 'Follow up', relatedObject: 'accounts', relatedId: acc.id });
    expect(act).toMatchObject({ relatedObject: 'accounts', relatedId: acc.id });
    expect(errorPaths(await api.post('/api/v1/activities', { subject: 'x', relatedId: acc.id }))).toEqual(['/relatedObject']);
    expect(errorPaths(await api.post('/api/v1/activities', { subject: 'x', relatedObject: 'leads', relatedId: acc.id }))).toEqual(['/relatedId']);
    const moved = await api.patch(`/api/v1/activities/${act.id}`, { relatedId: acc2.id }, 1);
    expect(moved.status, moved.text).toBe(200);
    expect(errorPaths(await api.patch(`/api/v1/activities/${act.id}`, { relatedId: lead.id }, 2))).toEqual(['/relatedId']);
    expect(errorPaths(await api.patch(`/api/v1/activities/${act.id}`, { relatedObject: 'leads' }, 2))).toEqual(['/relatedId']);
    const both = await api.patch(`/api/v1/activities/${act.id}`, { relatedObject: 'leads', relatedId: lead.id }, 2);
    expect(both.status, both.text).toBe(200);
  });

  it('a lead cannot be converted by PATCHing its status', async () => {
    const lead = await api.create('leads', { lastName: 'Nope' });
    expect(errorPaths(await api.patch(`/api/v1/leads/${lead.id}`, { status: 'converted' }, 1))).toEqual(['/status']);
  });

  it('two editors of different fields both succeed; of the same field, the second gets 412', async () => {
    const rec = await api.create('opportunities', { name: 'Race', probability: 10 });
    const url = `/api/v1/opportunities/${rec.id}`;
    const [a, b] = await Promise.all([api.patch(url, { name: 'Race A' }, 1), api.patch(url, { probability: 50 }, 1)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const final = await api.get(url);
    expect(final.body).toMatchObject({ name: 'Race A', probability: 50, version: 3 });
    const [c, d] = await Promise.all([api.patch(url, { name: 'Race C' }, 3), api.patch(url, { name: 'Race D' }, 3)]);
    expect([c.status, d.status].sort()).toEqual([200, 412]);
  });
});
