import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('POST /api/v1/auth/login', () => {
  it('signs in with the contract body', async () => {
    const res = await t.request('POST', '/api/v1/auth/login', { body: { email: t.org.email, password: t.org.password } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ expiresIn: expect.any(Number), tokenType: 'Bearer' });
    expect(res.body.accessToken).toMatch(/^ey/);
    expect(res.body.refreshToken).toMatch(/^bsr_/);
    expect(res.body.user).toEqual({
      id: t.org.adminId,
      email: t.org.email,
      name: 'Admin',
      role: 'admin',
      organizationId: t.org.orgId,
      teamId: null,
    });
  });

  it('accepts the email in any case', async () => {
    const res = await t.request('POST', '/api/v1/auth/login', { body: { email: t.org.email.toUpperCase(), password: t.org.password } });
    expect(res.status).toBe(200);
  });

  it('answers unknown email and wrong password the same way', async () => {
    const wrong = await t.request('POST', '/api/v1/auth/login', { body: { email: t.org.email, password: 'not the password' } });
    const unknown = await t.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'not the password' } });
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body.code).toBe('unauthenticated');
    }
    expect(wrong.body.detail).toBe(unknown.body.detail);
  });

  it('refuses a disabled user with the same 401, even with the right password', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    await t.admin.query("UPDATE users SET status = 'disabled' WHERE id = $1", [user.id]);
    const res = await t.request('POST', '/api/v1/auth/login', { body: { email: user.email, password: user.password } });
    expect(res.status).toBe(401);
    expect(res.body.detail).toBe('Wrong email or password.');
  });

  it.each([
    ['no body', undefined],
    ['an array', [1, 2]],
    ['a string', 'hello'],
    ['a number', 42],
    ['null', null],
    ['missing password', { email: 'a@b.c' }],
    ['wrong types', { email: 1, password: true }],
    ['an unknown field', { email: 'a@b.c', password: 'x', remember: true }],
    ['a nested object', { email: { $ne: '' }, password: 'x' }],
    ['an overlong password', { email: 'a@b.c', password: 'x'.repeat(5000) }],
  ])('answers 400 validation_failed for %s', async (_name, body) => {
    const res = await t.request('POST', '/api/v1/auth/login', body === undefined ? {} : { raw: JSON.stringify(body) });
    expect([400]).toContain(res.status);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(['validation_failed', 'invalid_json']).toContain(res.body.code);
    expect(res.text).not.toMatch(/at .*\.ts:\d+/);
  });

  it('answers 400 for malformed JSON', async () => {
    const res = await t.request('POST', '/api/v1/auth/login', { raw: '{"email": ' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_json');
  });
});

describe('GET /api/v1/auth/me and JWKS', () => {
  it('describes the signed-in user', async () => {
    const res = await t.request('GET', '/api/v1/auth/me', { token: t.org.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: t.org.adminId,
      email: t.org.email,
      role: 'admin',
      organizationId: t.org.orgId,
      mfaEnabled: false,
      authMethod: 'access_token',
      organization: { id: t.org.orgId, name: 'Acme Test' },
    });
  });

  it('needs a valid token', async () => {
    expect((await t.request('GET', '/api/v1/auth/me')).status).toBe(401);
    const bad = await t.request('GET', '/api/v1/auth/me', { token: 'eyJhbGciOiJFZERTQSJ9.e30.AAAA' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('publishes the public signing keys only', async () => {
    for (const path of ['/api/v1/auth/jwks', '/.well-known/jwks.json']) {
      const res = await t.request('GET', path);
      expect(res.status).toBe(200);
      expect(res.body.keys.length).toBeGreaterThan(0);
      for (const key of res.body.keys) {
        expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
        expect(key.d).toBeUndefined();
      }
    }
  });
});
