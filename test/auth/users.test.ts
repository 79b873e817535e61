import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

const newEmail = () => `u-${Math.random().toString(36).slice(2)}@example.com`;

describe('users', () => {
  it('an admin creates a user with a generated password that works once shown', async () => {
    const email = newEmail();
    const res = await t.request('POST', '/api/v1/users', { token: t.org.token, body: { email, name: 'Rita Rep', role: 'rep' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ email, name: 'Rita Rep', role: 'rep', teamId: null, status: 'active', mfaEnabled: false, version: 1 });
    expect(res.body.generatedPassword).toEqual(expect.any(String));
    expect(res.headers.get('etag')).toBe('"1"');
    expect(res.headers.get('location')).toBe(`/api/v1/users/${res.body.id}`);
    const login = await t.request('POST', '/api/v1/auth/login', { body: { email, password: res.body.generatedPassword } });
    expect(login.status).toBe(200);

    await sealAudit(t.admin);
    const ledger = await t.admin.query(
      "SELECT (SELECT json_agg(r)::text FROM write_receipts r) || (SELECT json_agg(a)::text FROM audit_log a) || (SELECT json_agg(o)::text FROM outbox o) AS text",
    );
    expect(ledger.rows[0].text).toContain('user.created');
    expect(ledger.rows[0].text).not.toContain(res.body.generatedPassword);
    expect(ledger.rows[0].text).not.toContain('$argon2');
  });

  it('creates with a given password and a team; duplicate email is 409 in any case', async () => {
    const teamId = await t.createTeam(t.org.orgId);
    const email = newEmail();
    const res = await t.request('POST', '/api/v1/users', {
      token: t.org.token,
      body: { email, name: 'Agnes', role: 'agent', password: 'a long enough password', teamId },
    });
    expect(res.status).toBe(201);
    expect(res.body.teamId).toBe(teamId);
    expect(res.body.generatedPassword).toBeUndefined();
    expect((await t.request('POST', '/api/v1/auth/login', { body: { email, password: 'a long enough password' } })).status).toBe(200);
    const dup = await t.request('POST', '/api/v1/users', { token: t.org.token, body: { email: email.toUpperCase(), name: 'Again', role: 'rep' } });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('already_exists');
  });

  it('validates the body', async () => {
    const otherOrgTeam = await t.createTeam((await t.createOrg('Other')).orgId);
    for (const body of [
      {},
      { email: 'not-an-email', name: 'x', role: 'rep' },
      { email: newEmail(), name: 'x', role: 'superuser' },
      { email: newEmail(), name: 'x', role: 'rep', password: 'short' },
      { email: newEmail(), name: 'x', role: 'rep', teamId: 'abc' },
      { email: newEmail(), name: 'x', role: 'rep', teamId: otherOrgTeam },
      { email: newEmail(), name: 'x', role: 'rep', isAdmin: true },
      [],
    ]) {
      const res = await t.request('POST', '/api/v1/users', { token: t.org.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });

  it('non-admins may list and read users in the short form, but not change them', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    const list = await t.request('GET', '/api/v1/users', { token: rep.token });
    expect(list.status).toBe(200);
    expect(list.body.nextCursor).toBeNull();
    const admin = list.body.data.find((u: { id: string }) => u.id === t.org.adminId);
    expect(Object.keys(admin).sort()).toEqual(['email', 'id', 'name', 'role', 'teamId']);
    const one = await t.request('GET', `/api/v1/users/${t.org.adminId}`, { token: rep.token });
    expect(Object.keys(one.body).sort()).toEqual(['email', 'id', 'name', 'role', 'teamId']);

    expect((await t.request('POST', '/api/v1/users', { token: rep.token, body: { email: newEmail(), name: 'x', role: 'admin' } })).status).toBe(403);
    expect((await t.request('PATCH', `/api/v1/users/${rep.id}`, { token: rep.token, body: { role: 'admin' } })).status).toBe(403);
    expect((await t.request('POST', '/api/v1/teams', { token: rep.token, body: { name: 'x' } })).status).toBe(403);
    expect((await t.request('PATCH', '/api/v1/organization', { token: rep.token, body: { name: 'x' } })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/users')).status).toBe(401);
  });

  it('admins see the full form; lists page with a cursor; other tenants are invisible', async () => {
    for (let i = 0; i < 3; i++) await t.createUser(t.org.orgId, 'readonly');
    const page1 = await t.request('GET', '/api/v1/users?limit=2', { token: t.org.token });
    expect(page1.body.data).toHaveLength(2);
    expect(page1.body.data[0]).toHaveProperty('status');
    const page2 = await t.request('GET', `/api/v1/users?limit=2&cursor=${page1.body.nextCursor}`, { token: t.org.token });
    expect(page2.body.data[0].id > page1.body.data[1].id).toBe(true);
    expect((await t.request('GET', '/api/v1/users?limit=0', { token: t.org.token })).status).toBe(400);
    expect((await t.request('GET', '/api/v1/users?cursor=zzz', { token: t.org.token })).status).toBe(400);
    expect((await t.request('GET', '/api/v1/users?sort=name', { token: t.org.token })).status).toBe(400);

    const other = await t.createOrg('Elsewhere');
    expect((await t.request('GET', `/api/v1/users/${other.adminId}`, { token: t.org.token })).status).toBe(404);
    expect((await t.request('PATCH', `/api/v1/users/${other.adminId}`, { token: t.org.token, body: { name: 'x' } })).status).toBe(404);
    expect((await t.request('GET', '/api/v1/users/not-a-uuid', { token: t.org.token })).status).toBe(404);
  });

  it('PATCH changes name, role, team and password, with audit and an optional If-Match', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    const teamId = await t.createTeam(t.org.orgId);
    const got = await t.request('GET', `/api/v1/users/${user.id}`, { token: t.org.token });
    expect(got.headers.get('etag')).toBe('"1"');
    const res = await t.request('PATCH', `/api/v1/users/${user.id}`, {
      token: t.org.token,
      headers: { 'If-Match': '"1"' },
      body: { name: 'Renamed', role: 'manager', teamId },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Renamed', role: 'manager', teamId, version: 2 });
    expect(res.headers.get('etag')).toBe('"2"');
    const stale = await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, headers: { 'If-Match': '"1"' }, body: { name: 'Late' } });
    expect(stale.status).toBe(412);
    expect(stale.body.code).toBe('version_conflict');

    await sealAudit(t.admin);
    const audit = await t.admin.query("SELECT changes FROM audit_log WHERE record_id = $1 AND action = 'update'", [user.id]);
    expect(audit.rows[0].changes).toEqual(
      expect.arrayContaining([
        { field: 'name', old: 'rep user', new: 'Renamed' },
        { field: 'role', old: 'rep', new: 'manager' },
      ]),
    );

    const session = await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } });
    const pw = await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body: { password: 'a brand new password' } });
    expect(pw.status).toBe(200);
    expect((await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.body.refreshToken } })).status).toBe(401);
    expect((await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'a brand new password' } })).status).toBe(200);
    await sealAudit(t.admin);
    const ledger = await t.admin.query("SELECT json_agg(a)::text AS text FROM audit_log a WHERE record_id = $1", [user.id]);
    expect(ledger.rows[0].text).not.toContain('a brand new password');

    for (const body of [{ role: 'root' }, { status: 'gone' }, { email: 'x@y.z' }, { mfaEnabled: true }, { teamId: 5 }, 'x']) {
      expect((await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body })).status).toBe(400);
    }
    const cleared = await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body: { teamId: null } });
    expect(cleared.body.teamId).toBeNull();
  });

  it('disabling a user revokes their sessions and blocks sign-in', async () => {
    const user = await t.createUser(t.org.orgId, 'agent');
    const session = await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } });
    const res = await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body: { status: 'disabled' } });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('disabled');
    expect((await t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken: session.body.refreshToken } })).status).toBe(401);
    expect((await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } })).status).toBe(401);
    const revoked = await t.admin.query('SELECT count(*)::int AS n FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL', [user.id]);
    expect(revoked.rows[0].n).toBe(0);
    await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body: { status: 'active' } });
    expect((await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } })).status).toBe(200);
  });

  it('the last active admin cannot be demoted or disabled', async () => {
    const org = await t.createOrg('Solo');
    const demote = await t.request('PATCH', `/api/v1/users/${org.adminId}`, { token: org.token, body: { role: 'rep' } });
    expect(demote.status).toBe(409);
    const disable = await t.request('PATCH', `/api/v1/users/${org.adminId}`, { token: org.token, body: { status: 'disabled' } });
    expect(disable.status).toBe(409);
    const second = await t.createUser(org.orgId, 'admin');
    expect((await t.request('PATCH', `/api/v1/users/${org.adminId}`, { token: second.token, body: { role: 'rep' } })).status).toBe(200);
  });
});

describe('teams', () => {
  it('admins create teams; everyone lists them; names are unique', async () => {
    const res = await t.request('POST', '/api/v1/teams', { token: t.org.token, body: { name: 'EMEA Sales' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: expect.any(String), name: 'EMEA Sales' });
    expect((await t.request('POST', '/api/v1/teams', { token: t.org.token, body: { name: 'EMEA Sales' } })).status).toBe(409);
    expect((await t.request('POST', '/api/v1/teams', { token: t.org.token, body: { name: '' } })).status).toBe(400);
    const rep = await t.createUser(t.org.orgId, 'rep');
    const list = await t.request('GET', '/api/v1/teams', { token: rep.token });
    expect(list.body.data.map((x: { name: string }) => x.name)).toContain('EMEA Sales');
  });
});

describe('organization settings', () => {
  it('reads and changes name, sharing default and MFA roles', async () => {
    const got = await t.request('GET', '/api/v1/organization', { token: t.org.token });
    expect(got.body).toMatchObject({ id: t.org.orgId, name: 'Acme Test', sharingDefault: 'public_read', mfaRequiredRoles: [] });
    const res = await t.request('PATCH', '/api/v1/organization', {
      token: t.org.token,
      body: { name: 'Acme Inc', sharingDefault: 'private', mfaRequiredRoles: ['admin', 'manager'] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Acme Inc', sharingDefault: 'private', mfaRequiredRoles: ['admin', 'manager'] });
    await sealAudit(t.admin);
    const audit = await t.admin.query("SELECT count(*)::int AS n FROM audit_log WHERE object = 'organizations' AND record_id = $1", [t.org.orgId]);
    expect(audit.rows[0].n).toBe(1);
    await t.request('PATCH', '/api/v1/organization', { token: t.org.token, body: { name: 'Acme Test', sharingDefault: 'public_read', mfaRequiredRoles: [] } });
    for (const body of [{ sharingDefault: 'everyone' }, { mfaRequiredRoles: ['root'] }, { mfaRequiredRoles: ['rep', 'rep'] }, { name: '' }, { id: 'x' }]) {
      expect((await t.request('PATCH', '/api/v1/organization', { token: t.org.token, body })).status).toBe(400);
    }
  });
});
