import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

// Three failures per email, fifteen per client address, in a 15-minute window.
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ BASALT_LOGIN_MAX_ATTEMPTS: '3' });
});
afterAll(async () => t?.close());
beforeEach(async () => {
  await t.admin.query('DELETE FROM auth_throttle');
});

const attempt = (email: string, password: string) => t.request('POST', '/api/v1/auth/login', { body: { email, password } });

describe('login rate limiting', () => {
  it('blocks an email after the allowed failures, even with the right password', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    for (let i = 0; i < 3; i++) expect((await attempt(user.email, 'wrong password')).status).toBe(401);
    const blocked = await attempt(user.email.toUpperCase(), user.password);
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe('rate_limited');
    expect(blocked.headers.get('content-type')).toContain('application/problem+json');
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // Other accounts from the same address are not affected.
    expect((await attempt(t.org.email, t.org.password)).status).toBe(200);
  });

  it('is shared through the database (every node sees the same counters)', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    for (let i = 0; i < 3; i++) await attempt(user.email, 'wrong password');
    const rows = await t.admin.query("SELECT attempts FROM auth_throttle WHERE key LIKE 'login:email:%'");
    expect(rows.rows.map((r) => r.attempts)).toEqual([3]);
    // No email addresses in the shared table.
    const keys = await t.admin.query('SELECT key FROM auth_throttle');
    expect(keys.rows.some((r) => r.key.includes('@'))).toBe(false);
  });

  it('starts over after the window', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    for (let i = 0; i < 3; i++) await attempt(user.email, 'wrong password');
    expect((await attempt(user.email, user.password)).status).toBe(429);
    await t.admin.query("UPDATE auth_throttle SET window_start = now() - interval '1 hour'");
    expect((await attempt(user.email, user.password)).status).toBe(200);
  });

  it('a successful login clears the email counter', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    for (let i = 0; i < 2; i++) expect((await attempt(user.email, 'wrong password')).status).toBe(401);
    expect((await attempt(user.email, user.password)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await attempt(user.email, 'wrong password')).status).toBe(401);
    expect((await attempt(user.email, 'wrong password')).status).toBe(429);
  });

  it('limits one client address across emails (5x the per-email limit)', async () => {
    for (let i = 0; i < 15; i++) {
      expect((await attempt(`nobody-${i}@example.com`, 'wrong password')).status).toBe(401);
    }
    const blocked = await attempt(t.org.email, t.org.password);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
  });

  it('successful logins do not use up the address allowance', async () => {
    for (let i = 0; i < 20; i++) expect((await attempt(t.org.email, t.org.password)).status).toBe(200);
  });

  it('counts concurrent guesses exactly (no check-then-count gap)', async () => {
    const user = await t.createUser(t.org.orgId, 'rep');
    const results = await Promise.all(Array.from({ length: 8 }, () => attempt(user.email, 'wrong password')));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
  });
});
