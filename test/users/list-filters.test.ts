import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, errorPaths } from '../records/helpers.ts';
import { type HttpResult, startTestApp, type TestApp } from '../support/harness.ts';

/** GET /api/v1/users: q, role, teamId, status, keyset pages; the answer keeps { data, nextCursor }. */

let t: TestApp;
let admin: Api;
let team: string;

beforeAll(async () => {
  t = await startTestApp();
  admin = new Api(t, t.org.token);
  team = await t.createTeam(t.org.orgId);
  await t.createUser(t.org.orgId, 'rep', { teamId: team, email: 'rita.rep@example.com' });
  await t.createUser(t.org.orgId, 'rep', { email: 'rob_100%@example.com' });
  await t.createUser(t.org.orgId, 'agent', { teamId: team, email: 'anna.agent@example.com' });
  const disabled = await t.createUser(t.org.orgId, 'manager', { email: 'max.manager@example.com' });
  expect((await admin.patch(`/api/v1/users/${disabled.id}`, { status: 'disabled' })).status).toBe(200);
  await t.createOrg('Other'); // its users never show
});
afterAll(async () => t?.close());

const emails = (res: { body: { data: { email: string }[] } }) => res.body.data.map((u) => u.email).sort();

describe('GET /api/v1/users filters', () => {
  it('q matches name or email, case-insensitively, with LIKE wildcards taken literally', async () => {
    expect(emails(await admin.get('/api/v1/users?q=RITA'))).toEqual(['rita.rep@example.com']);
    expect(emails(await admin.get('/api/v1/users?q=agent%20user'))).toEqual(['anna.agent@example.com']); // the name
    expect(emails(await admin.get('/api/v1/users?q=_100%25'))).toEqual(['rob_100%@example.com']);
    expect(emails(await admin.get('/api/v1/users?q=%25'))).toEqual(['rob_100%@example.com']);
  });

  it('role, teamId (or none) and status, combined with AND', async () => {
    expect(emails(await admin.get('/api/v1/users?role=rep'))).toEqual(['rita.rep@example.com', 'rob_100%@example.com']);
    expect(emails(await admin.get(`/api/v1/users?teamId=${team}`))).toEqual(['anna.agent@example.com', 'rita.rep@example.com']);
    expect(emails(await admin.get(`/api/v1/users?teamId=${team}&role=rep`))).toEqual(['rita.rep@example.com']);
    expect(emails(await admin.get('/api/v1/users?teamId=none&role=rep'))).toEqual(['rob_100%@example.com']);
    expect(emails(await admin.get('/api/v1/users?status=disabled'))).toEqual(['max.manager@example.com']);
    expect((await admin.get('/api/v1/users?status=active')).body.data).toHaveLength(4); // admin + 3
  });

  it('pages with limit and cursor under a filter, never repeating or skipping', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: HttpResult<{ data: { id: string }[]; nextCursor: string | null }> = await admin.get(`/api/v1/users?status=active&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, res.text).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['data', 'nextCursor']);
      seen.push(...res.body.data.map((u) => u.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
    expect([...seen].sort()).toEqual(seen); // keyset order by id
  });

  it('non-admins may filter too and still get the short form', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep', { email: 'rachel.rep@example.com' });
    const res = await t.request('GET', '/api/v1/users?role=rep&q=rachel', { token: rep.token });
    expect(res.body.data).toEqual([{ id: rep.id, name: 'rep user', email: 'rachel.rep@example.com', role: 'rep', teamId: null }]);
  });

  it('rejects bad values with 400 validation_failed', async () => {
    expect(errorPaths(await admin.get('/api/v1/users?role=boss'))).toEqual(['role']);
    expect(errorPaths(await admin.get('/api/v1/users?status=gone'))).toEqual(['status']);
    expect(errorPaths(await admin.get('/api/v1/users?teamId=abc'))).toEqual(['teamId']);
    expect(errorPaths(await admin.get(`/api/v1/users?q=${'x'.repeat(201)}`))).toEqual(['q']);
    expect(errorPaths(await admin.get('/api/v1/users?q=a&q=b'))).toEqual(['q']);
    expect(errorPaths(await admin.get('/api/v1/users?sort=name'))).toEqual(['sort']);
    expect(errorPaths(await admin.get('/api/v1/users?limit=1.5'))).toEqual(['limit']);
  });
});
