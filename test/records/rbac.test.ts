import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/auth/actor.ts';
import { OBJECT_PERMISSIONS, type Permission } from '../../src/auth/permissions.ts';
import { startTestApp, type TestApp, type UserFixture } from '../support/harness.ts';
import { Api, expectProblem, OBJECTS, SAMPLES } from './helpers.ts';

let t: TestApp;
let admin: Api;
const users = {} as Record<Role, UserFixture>;

async function setSharing(orgId: string, sharing: 'private' | 'public_read' | 'public_read_write'): Promise<void> {
  await t.admin.query('UPDATE organizations SET sharing_default = $1 WHERE id = $2', [sharing, orgId]);
}

beforeAll(async () => {
  t = await startTestApp();
  admin = new Api(t, t.org.token);
  const team = await t.createTeam(t.org.orgId);
  for (const role of ROLES) users[role] = role === 'admin' ? await t.createUser(t.org.orgId, 'admin') : await t.createUser(t.org.orgId, role, { teamId: team });
});
afterAll(async () => t?.close());

describe('object permissions: role × object × action, as src/auth/permissions.ts declares', () => {
  const allowed = (role: Role, object: string, p: Permission) => OBJECT_PERMISSIONS[role][object]?.includes(p) ?? false;
  const combos = ROLES.flatMap((role) => OBJECTS.map((object) => [role, object] as const));

  beforeAll(async () => setSharing(t.org.orgId, 'public_read_write'));

  it.each(combos)('%s on %s', async (role, object) => {
    const api = new Api(t, users[role].token);
    const sample = SAMPLES[object];
    const base = `/api/v1/${object}`;
    // Records owned by the org admin, so only the role (not sharing, which is public_read_write) decides.
    const target = await admin.create(object, sample.create);

    const created = await api.post(base, sample.create);
    if (allowed(role, object, 'create')) expect(created.status, created.text).toBe(201);
    else expectProblem(created, 403, 'forbidden');

    const got = await api.get(`${base}/${target.id}`);
    const list = await api.get(base);
    const history = await api.get(`${base}/${target.id}/history`);
    if (allowed(role, object, 'read')) {
      expect(got.status).toBe(200);
      expect(list.status).toBe(200);
      expect(list.body.data.map((r: { id: string }) => r.id)).toContain(target.id);
      expect(history.status).toBe(200);
    } else {
      for (const r of [got, list, history]) expectProblem(r, 403, 'forbidden');
    }

    const patched = await api.patch(`${base}/${target.id}`, { [sample.edit[0]]: sample.edit[1] }, 1);
    if (allowed(role, object, 'update')) expect(patched.status, patched.text).toBe(200);
    else expectProblem(patched, 403, 'forbidden');

    const version = patched.status === 200 ? 2 : 1;
    const deleted = await api.delete(`${base}/${target.id}`, version);
    if (allowed(role, object, 'delete')) {
      expect(deleted.status, deleted.text).toBe(204);
      expect((await api.post(`${base}/${target.id}/restore`)).status).toBe(200);
    } else {
      expectProblem(deleted, 403, 'forbidden');
      expectProblem(await api.post(`${base}/${target.id}/restore`), 403, 'forbidden');
    }
    // Nothing was written by a refused request.
    const after = await admin.get(`${base}/${target.id}`);
    expect(after.body.version).toBe(version + (allowed(role, object, 'delete') ? 2 : 0));
  });

  it('the metadata endpoint tells each role what it may do', async () => {
    for (const role of ROLES) {
      const res = await new Api(t, users[role].token).get('/api/v1/metadata/objects');
      expect(res.status).toBe(200);
      const described = Object.fromEntries(res.body.data.map((o: { name: string; permissions: string[] }) => [o.name, o.permissions]));
      for (const object of OBJECTS) {
        const perms = OBJECT_PERMISSIONS[role][object] ?? [];
        if (perms.includes('read')) expect(described[object]).toEqual(perms);
        else expect(described[object]).toBeUndefined();
      }
    }
  });
});

describe('record visibility by sharing default, owner and team', () => {
  let orgId: string;
  let teamA: string;
  let adminApi: Api;
  let repA1: UserFixture;
  let repA2: UserFixture;
  let repB: UserFixture;
  let managerA: UserFixture;
  let readonly: UserFixture;
  let acc: Record<string, Record<string, any>>;

  const as = (u: UserFixture) => new Api(t, u.token);
  const ids = async (u: UserFixture, object = 'accounts') => (await as(u).listAll(object)).map((r) => r.id);
  const searchIds = async (u: UserFixture, q: string) =>
    ((await as(u).get(`/api/v1/search?q=${q}`)).body.data as { id: string }[]).map((h) => h.id);

  beforeAll(async () => {
    const org = await t.createOrg('Sharing Org');
    orgId = org.orgId;
    adminApi = new Api(t, org.token);
    teamA = await t.createTeam(orgId, 'A');
    const teamB = await t.createTeam(orgId, 'B');
    repA1 = await t.createUser(orgId, 'rep', { teamId: teamA });
    repA2 = await t.createUser(orgId, 'rep', { teamId: teamA });
    repB = await t.createUser(orgId, 'rep', { teamId: teamB });
    managerA = await t.createUser(orgId, 'manager', { teamId: teamA });
    readonly = await t.createUser(orgId, 'readonly', { teamId: teamA });
    acc = {
      a1: await as(repA1).create('accounts', { name: 'Visibilityone Aardvark' }),
      a2: await as(repA2).create('accounts', { name: 'Visibilitytwo Badger' }),
      b: await as(repB).create('accounts', { name: 'Visibilitythree Cheetah' }),
    };
  });

  it('private: a rep sees only their own records (others are 404, absent from list and search)', async () => {
    await setSharing(orgId, 'private');
    expect(await ids(repA1)).toEqual([acc.a1.id]);
    expectProblem(await as(repA1).get(`/api/v1/accounts/${acc.a2.id}`), 404, 'not_found');
    expectProblem(await as(repA1).get(`/api/v1/accounts/${acc.b.id}`), 404, 'not_found');
    expectProblem(await as(repA1).get(`/api/v1/accounts/${acc.b.id}/history`), 404, 'not_found');
    expectProblem(await as(repA1).patch(`/api/v1/accounts/${acc.b.id}`, { name: 'mine now' }, 1), 404, 'not_found');
    expectProblem(await as(repA1).delete(`/api/v1/accounts/${acc.b.id}`, 1), 404, 'not_found');
    expect(await searchIds(repA1, 'visibility')).toEqual([acc.a1.id]);
    expect(await searchIds(repA1, 'cheetah')).toEqual([]);
    // Nor can a rep point at a record they cannot see.
    expectProblem(await as(repA1).post('/api/v1/contacts', { lastName: 'X', accountId: acc.b.id }), 400, 'validation_failed');
    expect(await ids(readonly)).toEqual([]);
  });

  it('private: a manager sees and edits their team’s records, not other teams’', async () => {
    await setSharing(orgId, 'private');
    expect((await ids(managerA)).sort()).toEqual([acc.a1.id, acc.a2.id].sort());
    expect((await searchIds(managerA, 'visibility')).sort()).toEqual([acc.a1.id, acc.a2.id].sort());
    expectProblem(await as(managerA).get(`/api/v1/accounts/${acc.b.id}`), 404, 'not_found');
    const rec = await as(managerA).get(`/api/v1/accounts/${acc.a2.id}`);
    const edited = await as(managerA).patch(`/api/v1/accounts/${acc.a2.id}`, { phone: '+1 555 0199' }, rec.body.version);
    expect(edited.status, edited.text).toBe(200);
    // Reassigning inside the team is fine; outside it the manager would lose the record: 403, not a 500.
    const moved = await as(managerA).patch(`/api/v1/accounts/${acc.a2.id}`, { ownerId: repA1.id }, edited.body.version);
    expect(moved.status, moved.text).toBe(200);
    const back = await as(managerA).patch(`/api/v1/accounts/${acc.a2.id}`, { ownerId: repA2.id }, moved.body.version);
    expect(back.status, back.text).toBe(200);
    expectProblem(await as(managerA).patch(`/api/v1/accounts/${acc.a2.id}`, { ownerId: repB.id }, back.body.version), 403, 'forbidden');
    expectProblem(await as(managerA).post('/api/v1/accounts', { name: 'Gift', ownerId: repB.id }), 403, 'forbidden');
  });

  it('private: admin sees everything', async () => {
    await setSharing(orgId, 'private');
    expect((await adminApi.listAll('accounts')).map((r) => r.id).sort()).toEqual(Object.values(acc).map((a) => a.id).sort());
    expect((await adminApi.get(`/api/v1/accounts/${acc.b.id}`)).status).toBe(200);
  });

  it('public_read: a rep reads others’ records but may not change them (403)', async () => {
    await setSharing(orgId, 'public_read');
    expect((await ids(repA1)).sort()).toEqual(Object.values(acc).map((a) => a.id).sort());
    expect((await searchIds(repA1, 'cheetah'))).toEqual([acc.b.id]);
    const other = await as(repA1).get(`/api/v1/accounts/${acc.b.id}`);
    expect(other.status).toBe(200);
    expectProblem(await as(repA1).patch(`/api/v1/accounts/${acc.b.id}`, { name: 'nope' }, other.body.version), 403, 'forbidden');
    expectProblem(await as(repA1).delete(`/api/v1/accounts/${acc.b.id}`, other.body.version), 403, 'forbidden');
    expect((await adminApi.get(`/api/v1/accounts/${acc.b.id}`)).body.version).toBe(other.body.version);
    // Their own stays editable.
    const own = await as(repA1).get(`/api/v1/accounts/${acc.a1.id}`);
    expect((await as(repA1).patch(`/api/v1/accounts/${acc.a1.id}`, { phone: '1' }, own.body.version)).status).toBe(200);
  });

  it('public_read_write: a rep edits others’ records, but may not give records away', async () => {
    await setSharing(orgId, 'public_read_write');
    const other = await as(repA1).get(`/api/v1/accounts/${acc.b.id}`);
    const edited = await as(repA1).patch(`/api/v1/accounts/${acc.b.id}`, { website: 'cheetah.example' }, other.body.version);
    expect(edited.status, edited.text).toBe(200);
    expect(edited.body.ownerId).toBe(repB.id);
    expectProblem(await as(repA1).patch(`/api/v1/accounts/${acc.b.id}`, { ownerId: repA1.id }, edited.body.version), 403, 'forbidden');
    expectProblem(await as(repA1).post('/api/v1/accounts', { name: 'Gift', ownerId: repB.id }), 403, 'forbidden');
  });

  it('a change of the sharing default applies to the very next request', async () => {
    await setSharing(orgId, 'public_read');
    expect((await as(repA1).get(`/api/v1/accounts/${acc.b.id}`)).status).toBe(200);
    await setSharing(orgId, 'private');
    expect((await as(repA1).get(`/api/v1/accounts/${acc.b.id}`)).status).toBe(404);
  });
});
