import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

const create = (body: unknown, token = t.org.token, headers?: Record<string, string>) =>
  t.request('POST', '/api/v1/api-keys', { token, body, headers });

describe('API keys', () => {
  it('creates a key shown once, stored hashed, listed without the key', async () => {
    const res = await create({ name: 'Integration', role: 'rep' });
    expect(res.status).toBe(201);
    expect(res.body.key).toMatch(/^bsk_[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatchObject({ name: 'Integration', role: 'rep', createdBy: t.org.adminId, expiresAt: null, revokedAt: null });
    expect(res.body.prefix).toBe(res.body.key.slice(0, 12));
    expect(res.headers.get('location')).toBe(`/api/v1/api-keys/${res.body.id}`);

    const stored = await t.admin.query('SELECT key_hash FROM api_keys WHERE id = $1', [res.body.id]);
    expect(stored.rows[0].key_hash).not.toContain(res.body.key);
    await sealAudit(t.admin);
    const ledger = await t.admin.query(
      "SELECT (SELECT coalesce(json_agg(r)::text, '') FROM write_receipts r) || (SELECT json_agg(a)::text FROM audit_log a) || (SELECT json_agg(o)::text FROM outbox o) AS text",
    );
    expect(ledger.rows[0].text).not.toContain(res.body.key);

    const list = await t.request('GET', '/api/v1/api-keys', { token: t.org.token });
    expect(list.status).toBe(200);
    const listed = list.body.data.find((k: { id: string }) => k.id === res.body.id);
    expect(listed).toMatchObject({ name: 'Integration', prefix: res.body.prefix });
    expect(listed.key).toBeUndefined();
    expect(list.text).not.toContain(res.body.key);
  });

  it('authenticates as Bearer with the key role, and revocation stops it', async () => {
    const res = await create({ name: 'Reader', role: 'readonly' });
    const key = res.body.key;
    const me = await t.request('GET', '/api/v1/auth/me', { token: key });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: t.org.adminId, role: 'readonly', authMethod: 'api_key', apiKeyId: res.body.id });
    expect((await t.request('GET', '/api/v1/accounts', { token: key })).status).toBe(200);
    expect((await t.request('POST', '/api/v1/accounts', { token: key, body: { name: 'Nope' } })).status).toBe(403);
    // A readonly key is not an admin.
    expect((await t.request('GET', '/api/v1/api-keys', { token: key })).status).toBe(403);

    const revoked = await t.request('DELETE', `/api/v1/api-keys/${res.body.id}`, { token: t.org.token });
    expect(revoked.status).toBe(204);
    expect((await t.request('GET', '/api/v1/auth/me', { token: key })).status).toBe(401);
    expect((await t.request('DELETE', `/api/v1/api-keys/${res.body.id}`, { token: t.org.token })).status).toBe(204);
    const list = await t.request('GET', '/api/v1/api-keys', { token: t.org.token });
    expect(list.body.data.find((k: { id: string }) => k.id === res.body.id).revokedAt).toEqual(expect.any(String));
  });

  it('an expired key or a key of a disabled creator does not authenticate', async () => {
    const res = await create({ name: 'Short', role: 'rep', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect(res.status).toBe(201);
    expect((await t.request('GET', '/api/v1/auth/me', { token: res.body.key })).status).toBe(200);
    await t.admin.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [res.body.id]);
    expect((await t.request('GET', '/api/v1/auth/me', { token: res.body.key })).status).toBe(401);
    expect((await t.request('GET', '/api/v1/auth/me', { token: 'bsk_unknown' })).status).toBe(401);

    const admin2 = await t.createUser(t.org.orgId, 'admin');
    const theirs = await create({ name: 'Theirs', role: 'rep' }, admin2.token);
    await t.admin.query("UPDATE users SET status = 'disabled' WHERE id = $1", [admin2.id]);
    expect((await t.request('GET', '/api/v1/auth/me', { token: theirs.body.key })).status).toBe(401);
  });

  it('only admins manage keys', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    expect((await create({ name: 'x', role: 'rep' }, rep.token)).status).toBe(403);
    expect((await t.request('GET', '/api/v1/api-keys', { token: rep.token })).status).toBe(403);
    const res = await create({ name: 'Mine', role: 'rep' });
    expect((await t.request('DELETE', `/api/v1/api-keys/${res.body.id}`, { token: rep.token })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/api-keys')).status).toBe(401);
  });

  it('validates the body and the id', async () => {
    for (const body of [
      {},
      { name: 'x' },
      { name: 'x', role: 'god' },
      { name: '', role: 'rep' },
      { name: 'x', role: 'rep', expiresAt: '2000-01-01T00:00:00Z' },
      { name: 'x', role: 'rep', expiresAt: 'tomorrow' },
      { name: 'x', role: 'rep', scopes: [] },
      'key please',
    ]) {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    expect((await t.request('DELETE', '/api/v1/api-keys/not-a-uuid', { token: t.org.token })).status).toBe(404);
    expect((await t.request('DELETE', '/api/v1/api-keys/0190a4f8-0000-7000-8000-000000000000', { token: t.org.token })).status).toBe(404);
  });

  it('an idempotent retry replays the answer without the key, creating one key', async () => {
    const headers = { 'Idempotency-Key': 'create-key-1' };
    const first = await create({ name: 'Once', role: 'agent' }, t.org.token, headers);
    const again = await create({ name: 'Once', role: 'agent' }, t.org.token, headers);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.key).toBeUndefined();
    const count = await t.admin.query("SELECT count(*)::int AS n FROM api_keys WHERE name = 'Once'");
    expect(count.rows[0].n).toBe(1);
  });

  it('keys of another organization are invisible', async () => {
    const other = await t.createOrg('Other');
    const res = await create({ name: 'Mine', role: 'rep' });
    expect((await t.request('DELETE', `/api/v1/api-keys/${res.body.id}`, { token: other.token })).status).toBe(404);
    const list = await t.request('GET', '/api/v1/api-keys', { token: other.token });
    expect(list.body.data).toEqual([]);
  });
});
