import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type UserFixture, sealAudit } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ BASALT_LOGIN_MAX_ATTEMPTS: '5' });
});
afterAll(async () => t?.close());

/** A code for the time step `offset` steps from now (the server accepts one step each way). */
const totp = (secret: string, offset = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });

/** Starts a flow early in a 30 s step, so steps -1, 0 and +1 stay valid while it runs. */
async function freshStep(): Promise<void> {
  const left = 30 - (Math.floor(Date.now() / 1000) % 30);
  if (left < 5) await new Promise((r) => setTimeout(r, left * 1000 + 100));
}

const login = (u: { email: string; password: string }) => t.request('POST', '/api/v1/auth/login', { body: { email: u.email, password: u.password } });

async function enableMfa(user: UserFixture): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrolled = await t.request('POST', '/api/v1/auth/mfa/enroll', { token: user.token });
  expect(enrolled.status).toBe(200);
  const secret = enrolled.body.secret as string;
  const confirmed = await t.request('POST', '/api/v1/auth/mfa/confirm', { token: user.token, body: { code: await totp(secret, -1) } });
  expect(confirmed.status).toBe(200);
  return { secret, recoveryCodes: confirmed.body.recoveryCodes };
}

describe('MFA (TOTP)', () => {
  it('enrolls, confirms, then requires a code at sign-in; a code cannot be replayed', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'rep');
    const enrolled = await t.request('POST', '/api/v1/auth/mfa/enroll', { token: user.token });
    expect(enrolled.status).toBe(200);
    expect(enrolled.body.secret).toMatch(/^[A-Z2-7]+=*$/);
    expect(enrolled.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/Basalt:.*secret=/);
    expect(enrolled.body.otpauthUri).toContain(encodeURIComponent(user.email));

    // A wrong code does not enable it.
    const wrong = await t.request('POST', '/api/v1/auth/mfa/confirm', { token: user.token, body: { code: '000000' } });
    expect(wrong.status).toBe(400);
    expect((await login(user)).body.accessToken).toBeDefined();

    const confirmed = await t.request('POST', '/api/v1/auth/mfa/confirm', { token: user.token, body: { code: await totp(enrolled.body.secret, -1) } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.mfaEnabled).toBe(true);
    expect(confirmed.body.recoveryCodes).toHaveLength(10);
    expect(new Set(confirmed.body.recoveryCodes).size).toBe(10);
    expect(confirmed.body.accessToken).toBeUndefined();

    // Secrets at rest: recovery codes only as hashes; no secret in the audit log or outbox.
    const row = (await t.admin.query('SELECT * FROM users WHERE id = $1', [user.id])).rows[0];
    expect(row.mfa_enabled).toBe(true);
    expect(row.mfa_pending_secret).toBeNull();
    expect(row.mfa_recovery_hashes).toHaveLength(10);
    expect(row.mfa_recovery_hashes).not.toContain(confirmed.body.recoveryCodes[0]);
    await sealAudit(t.admin);
    const ledger = await t.admin.query(
      "SELECT (SELECT json_agg(a)::text FROM audit_log a WHERE record_id = $1) || (SELECT json_agg(o)::text FROM outbox o WHERE record_id = $1) AS text",
      [user.id],
    );
    expect(ledger.rows[0].text).toContain('mfaEnabled');
    expect(ledger.rows[0].text).not.toContain(enrolled.body.secret);
    expect(ledger.rows[0].text).not.toContain(confirmed.body.recoveryCodes[0]);

    const first = await login(user);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ mfaRequired: true, mfaToken: expect.any(String) });
    // The MFA token is not an access token.
    expect((await t.request('GET', '/api/v1/auth/me', { token: first.body.mfaToken })).status).toBe(401);

    const code = await totp(enrolled.body.secret);
    const done = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: first.body.mfaToken, code } });
    expect(done.status).toBe(200);
    expect(done.body.refreshToken).toMatch(/^bsr_/);
    expect(done.body.user).toMatchObject({ id: user.id, role: 'rep' });
    const me = await t.request('GET', '/api/v1/auth/me', { token: done.body.accessToken });
    expect(me.body.mfaEnabled).toBe(true);

    // The same code (same time step) is refused the second time.
    const second = await login(user);
    const replay = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: second.body.mfaToken, code } });
    expect(replay.status).toBe(401);
    // The next step's code works.
    const next = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: second.body.mfaToken, code: await totp(enrolled.body.secret, 1) } });
    expect(next.status).toBe(200);
  });

  it('a recovery code works once', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'agent');
    const { recoveryCodes } = await enableMfa(user);
    const a = await login(user);
    const used = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: a.body.mfaToken, code: recoveryCodes[3].toUpperCase() } });
    expect(used.status).toBe(200);
    const b = await login(user);
    const again = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: b.body.mfaToken, code: recoveryCodes[3] } });
    expect(again.status).toBe(401);
    const other = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: b.body.mfaToken, code: recoveryCodes[4] } });
    expect(other.status).toBe(200);
    const row = (await t.admin.query('SELECT mfa_recovery_hashes FROM users WHERE id = $1', [user.id])).rows[0];
    expect(row.mfa_recovery_hashes).toHaveLength(8);
  });

  it('refuses bad MFA tokens and bad bodies', async () => {
    const res = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: 'nope', code: '123456' } });
    expect(res.status).toBe(401);
    // An access token is not an MFA token.
    expect((await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: t.org.token, code: '123456' } })).status).toBe(401);
    for (const body of [{}, { mfaToken: 'x' }, { mfaToken: 1, code: 2 }, [], { mfaToken: 'x', code: '1', more: 1 }]) {
      const bad = await t.request('POST', '/api/v1/auth/mfa', { body });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('validation_failed');
    }
  });

  it('throttles code guessing per user', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'rep');
    const { secret } = await enableMfa(user);
    const { body } = await login(user);
    for (let i = 0; i < 5; i++) {
      expect((await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: body.mfaToken, code: '000000' } })).status).toBe(401);
    }
    const blocked = await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken: body.mfaToken, code: await totp(secret) } });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
  });

  it('disables with a code or the password, not with a wrong one; enroll twice is a conflict', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'rep');
    const { secret } = await enableMfa(user);
    expect((await t.request('POST', '/api/v1/auth/mfa/enroll', { token: user.token })).status).toBe(409);
    expect((await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: {} })).status).toBe(400);
    expect((await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: { code: '1', password: 'x' } })).status).toBe(400);
    const wrong = await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: { password: 'wrong password' } });
    expect(wrong.status).toBe(400);
    const off = await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: { code: await totp(secret) } });
    expect(off.status).toBe(200);
    expect(off.body).toEqual({ mfaEnabled: false });
    expect((await login(user)).body.accessToken).toBeDefined();
    expect((await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: { password: user.password } })).status).toBe(409);

    await enableMfa(user);
    const byPassword = await t.request('POST', '/api/v1/auth/mfa/disable', { token: user.token, body: { password: user.password } });
    expect(byPassword.status).toBe(200);
    expect((await t.request('POST', '/api/v1/auth/mfa/disable')).status).toBe(401);
  });

  it('organization-required MFA: sign-in leads through enrollment with the MFA token', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'manager');
    const set = await t.request('PATCH', '/api/v1/organization', { token: t.org.token, body: { mfaRequiredRoles: ['manager'] } });
    expect(set.status).toBe(200);
    expect(set.body.mfaRequiredRoles).toEqual(['manager']);
    try {
      const first = await login(user);
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ mfaEnrollmentRequired: true, mfaToken: expect.any(String) });
      const mfaToken = first.body.mfaToken;

      // The enrollment token opens enroll and confirm only.
      expect((await t.request('GET', '/api/v1/auth/me', { token: mfaToken })).status).toBe(401);
      expect((await t.request('GET', '/api/v1/accounts', { token: mfaToken })).status).toBe(401);
      expect((await t.request('POST', '/api/v1/auth/mfa', { body: { mfaToken, code: '123456' } })).status).toBe(401);

      const enrolled = await t.request('POST', '/api/v1/auth/mfa/enroll', { token: mfaToken });
      expect(enrolled.status).toBe(200);
      const confirmed = await t.request('POST', '/api/v1/auth/mfa/confirm', { token: mfaToken, body: { code: await totp(enrolled.body.secret, -1) } });
      expect(confirmed.status).toBe(200);
      expect(confirmed.body.recoveryCodes).toHaveLength(10);
      expect(confirmed.body.refreshToken).toMatch(/^bsr_/);
      expect(confirmed.body.user).toMatchObject({ id: user.id, role: 'manager' });
      expect((await t.request('GET', '/api/v1/auth/me', { token: confirmed.body.accessToken })).status).toBe(200);

      // From now on the normal MFA sign-in; and it cannot be switched off while required.
      expect((await login(user)).body.mfaRequired).toBe(true);
      const off = await t.request('POST', '/api/v1/auth/mfa/disable', { token: confirmed.body.accessToken, body: { password: user.password } });
      expect(off.status).toBe(403);
    } finally {
      await t.request('PATCH', '/api/v1/organization', { token: t.org.token, body: { mfaRequiredRoles: [] } });
    }
  });

  it('an admin can reset a lost second factor', async () => {
    await freshStep();
    const user = await t.createUser(t.org.orgId, 'rep');
    await enableMfa(user);
    const reset = await t.request('PATCH', `/api/v1/users/${user.id}`, { token: t.org.token, body: { mfaEnabled: false } });
    expect(reset.status).toBe(200);
    expect(reset.body.mfaEnabled).toBe(false);
    expect((await login(user)).body.accessToken).toBeDefined();
  });

  it('API keys cannot enroll', async () => {
    const created = await t.request('POST', '/api/v1/api-keys', { token: t.org.token, body: { name: 'ci', role: 'admin' } });
    expect((await t.request('POST', '/api/v1/auth/mfa/enroll', { token: created.body.key })).status).toBe(403);
  });
});
