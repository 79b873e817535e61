import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

const body = (email = `founder-${Math.random().toString(36).slice(2)}@example.com`) => ({
  organizationName: 'Newco',
  name: 'Nora Founder',
  email,
  password: 'a long enough password',
});

describe('signup closed (default)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => t?.close());

  it('is 404 not_found', async () => {
    const res = await t.request('POST', '/api/v1/signup', { body: body() });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
  });
});

describe('signup open', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ BASALT_OPEN_SIGNUP: 'true' });
  });
  afterAll(async () => t?.close());

  it('creates an organization and its admin, signed in', async () => {
    const input = body();
    const res = await t.request('POST', '/api/v1/signup', { body: input });
    expect(res.status).toBe(201);
    expect(res.body.accessToken).toBeDefined();
    expect(res.body.refreshToken).toMatch(/^bsr_/);
    expect(res.body.user).toMatchObject({ email: input.email, name: 'Nora Founder', role: 'admin', organizationId: res.body.organizationId });

    const org = await t.request('GET', '/api/v1/organization', { token: res.body.accessToken });
    expect(org.body.name).toBe('Newco');
    // A new tenant: only its own admin is visible, and the audit chain starts there.
    const users = await t.request('GET', '/api/v1/users', { token: res.body.accessToken });
    expect(users.body.data.map((u: { id: string }) => u.id)).toEqual([res.body.user.id]);
    await sealAudit(t.admin);
    const audit = await t.admin.query('SELECT object, action FROM audit_log WHERE organization_id = $1 ORDER BY seq', [res.body.organizationId]);
    expect(audit.rows).toEqual([
      { object: 'organizations', action: 'create' },
      { object: 'users', action: 'create' },
    ]);
    const ledger = await t.admin.query('SELECT json_agg(a)::text AS text FROM audit_log a WHERE organization_id = $1', [res.body.organizationId]);
    expect(ledger.rows[0].text).not.toContain(input.password);
    expect((await t.request('POST', '/api/v1/accounts', { token: res.body.accessToken, body: { name: 'First customer' } })).status).toBe(201);
    expect((await t.request('POST', '/api/v1/auth/login', { body: { email: input.email, password: input.password } })).status).toBe(200);
  });

  it('refuses a used email (409) and bad input (400)', async () => {
    const dup = await t.request('POST', '/api/v1/signup', { body: body(t.org.email.toUpperCase()) });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('already_exists');
    for (const bad of [{}, { ...body(), password: 'short' }, { ...body(), email: 'nope' }, { ...body(), plan: 'gold' }, 'x']) {
      const res = await t.request('POST', '/api/v1/signup', { body: bad });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });
});
