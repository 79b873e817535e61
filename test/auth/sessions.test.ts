import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyStore } from '../../src/auth/keys.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

async function signIn(email = t.org.email, password = t.org.password) {
  const res = await t.request('POST', '/api/v1/auth/login', { body: { email, password } });
  expect(res.status).toBe(200);
  return res.body as { accessToken: string; refreshToken: string };
}
const refresh = (refreshToken: unknown) => t.request('POST', '/api/v1/auth/refresh', { body: { refreshToken } });

describe('POST /api/v1/auth/refresh', () => {
  it('rotates: a new pair, and the old refresh token stops working', async () => {
    const first = await signIn();
    const second = await refresh(first.refreshToken);
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect(second.body.user.id).toBe(t.org.adminId);
    expect((await t.request('GET', '/api/v1/auth/me', { token: second.body.accessToken })).status).toBe(200);
    const third = await refresh(second.body.refreshToken);
    expect(third.status).toBe(200);
  });

  it('reuse of a rotated token revokes the whole family', async () => {
    const first = await signIn();
    const second = await refresh(first.refreshToken);
    expect(second.status).toBe(200);
    // An attacker (or a confused client) replays the rotated token.
    const replay = await refresh(first.refreshToken);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('unauthenticated');
    // The legitimate holder's newer token is now revoked too.
    expect((await refresh(second.body.refreshToken)).status).toBe(401);
    // Other sessions of the same user are untouched.
    const other = await signIn();
    expect((await refresh(other.refreshToken)).status).toBe(200);
  });

  it('picks up a role change at the next refresh', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    const session = await signIn(user.email, user.password);
    await t.admin.query("UPDATE users SET role = 'manager' WHERE id = $1", [user.id]);
    const next = await refresh(session.refreshToken);
    expect(next.body.user.role).toBe('manager');
  });

  it('refuses unknown, expired and malformed tokens', async () => {
    expect((await refresh('bsr_nope')).status).toBe(401);
    expect((await refresh('something else')).status).toBe(401);
    const s = await signIn();
    await t.admin.query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = encode(sha256($1::bytea), 'hex')", [
      s.refreshToken,
    ]);
    expect((await refresh(s.refreshToken)).status).toBe(401);
    for (const body of [undefined, {}, { refreshToken: 5 }, { refreshToken: 'x', extra: 1 }, ['bsr_x']]) {
      const res = await t.request('POST', '/api/v1/auth/refresh', body === undefined ? {} : { body });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });

  it('refuses a disabled user', async () => {
    const user = await t.createUser(t.org.orgId, 'agent');
    const s = await signIn(user.email, user.password);
    await t.admin.query("UPDATE users SET status = 'disabled' WHERE id = $1", [user.id]);
    expect((await refresh(s.refreshToken)).status).toBe(401);
  });
});

describe('POST /api/v1/auth/logout', () => {
  it('revokes the family of a refresh token (204)', async () => {
    const s = await signIn();
    const rotated = await refresh(s.refreshToken);
    const res = await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: s.refreshToken } });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect((await refresh(rotated.body.refreshToken)).status).toBe(401);
  });

  it('revokes the bearer session when no refresh token is given', async () => {
    const s = await signIn();
    expect((await t.request('POST', '/api/v1/auth/logout', { token: s.accessToken })).status).toBe(204);
    expect((await refresh(s.refreshToken)).status).toBe(401);
  });

  it('is quiet about unknown tokens and strict about shape and credentials', async () => {
    expect((await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: 'bsr_unknown' } })).status).toBe(204);
    expect((await t.request('POST', '/api/v1/auth/logout')).status).toBe(401);
    expect((await t.request('POST', '/api/v1/auth/logout', { body: { refreshToken: 1 } })).status).toBe(400);
    expect((await t.request('POST', '/api/v1/auth/logout', { body: 'bsr_x' })).status).toBe(400);
  });
});

describe('signing key rotation', () => {
  it('keeps old tokens valid, lists both keys, and other nodes learn the new key', async () => {
    // Another node that loaded its keys before the rotation.
    const otherNode = new KeyStore(t.pool, 30, t.config.accessTokenTtlSeconds);
    await otherNode.ensureSigningKey();
    const before = await signIn();
    const oldKid = JSON.parse(Buffer.from(before.accessToken.split('.')[0], 'base64url').toString()).kid;

    const newKid = await t.server.keys.rotate();
    expect(newKid).not.toBe(oldKid);
    const after = await signIn();
    expect(JSON.parse(Buffer.from(after.accessToken.split('.')[0], 'base64url').toString()).kid).toBe(newKid);

    // No one is signed out by the rotation.
    expect((await t.request('GET', '/api/v1/auth/me', { token: before.accessToken })).status).toBe(200);
    expect((await t.request('GET', '/api/v1/auth/me', { token: after.accessToken })).status).toBe(200);
    const jwks = await t.request('GET', '/.well-known/jwks.json');
    const kids = jwks.body.keys.map((k: { kid: string }) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));

    // The other node verifies both (it reloads on the first unknown kid).
    await new Promise((r) => setTimeout(r, 1100));
    expect(await otherNode.verify(before.accessToken)).toMatchObject({ sub: t.org.adminId });
    expect(await otherNode.verify(after.accessToken)).toMatchObject({ sub: t.org.adminId });
  });

  it('stops verifying a key past verify_until (also for a token it has verified before)', async () => {
    const s = await signIn();
    expect((await t.request('GET', '/api/v1/auth/me', { token: s.accessToken })).status).toBe(200);
    const kid = JSON.parse(Buffer.from(s.accessToken.split('.')[0], 'base64url').toString()).kid;
    await t.server.keys.rotate();
    await t.admin.query("UPDATE signing_keys SET verify_until = now() - interval '1 second', sign_until = now() - interval '1 second' WHERE kid = $1", [kid]);
    await t.server.keys.reload();
    expect((await t.request('GET', '/api/v1/auth/me', { token: s.accessToken })).status).toBe(401);
  });

  it('refuses an access token once it expires, even one it has verified before', async () => {
    const s = await signIn();
    const { iat: _iat, exp: _exp, iss: _iss, typ: _typ, ...claims } = JSON.parse(Buffer.from(s.accessToken.split('.')[1], 'base64url').toString());
    const shortLived = await t.server.keys.signToken('access', claims, 1);
    expect((await t.request('GET', '/api/v1/auth/me', { token: shortLived })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await t.request('GET', '/api/v1/auth/me', { token: shortLived })).status).toBe(401);
  });

  it('never accepts a token of another kind as an access token', async () => {
    const mfaToken = await t.server.keys.signToken('mfa', { sub: t.org.adminId, org: t.org.orgId, purpose: 'verify' }, 60);
    expect((await t.request('GET', '/api/v1/auth/me', { token: mfaToken })).status).toBe(401);
  });
});
