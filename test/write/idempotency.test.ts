import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // A create whose name starts with "slow:" sleeps inside its transaction, so concurrent
  // requests with the same key really overlap. Long enough that the others, sent once the
  // sleep is seen, still wait out the key's 250 ms lock wait before it ends on a loaded CI
  // machine (at 0.4 s a run saw every one of them get the replay instead of a 409).
  await t.admin.query(`
    CREATE FUNCTION slow_create() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name LIKE 'slow:%' THEN PERFORM pg_sleep(1.5); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER slow_create BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION slow_create();`);
});
afterAll(async () => t?.close());

const key = () => `k-${randomUUID()}`;

async function count(sql: string, params: unknown[]): Promise<number> {
  return Number((await t.admin.query(sql, params)).rows[0].n);
}
const accountsNamed = (name: string) => count('SELECT count(*) AS n FROM accounts WHERE name = $1', [name]);

describe('Idempotency-Key', () => {
  it('same key and body: the stored response again, marked Idempotent-Replayed, and one record', async () => {
    const k = key();
    const name = `Once ${k}`;
    const first = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name, phone: '1' }, headers: { 'idempotency-key': k } });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    // Same JSON with its keys in another order is the same request.
    const again = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { phone: '1', name }, headers: { 'idempotency-key': k } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(await accountsNamed(name)).toBe(1);
  });

  it('same key with a different body or route: 422 idempotency_key_reused, nothing written', async () => {
    const k = key();
    expect((await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `A ${k}` }, headers: { 'idempotency-key': k } })).status).toBe(201);
    const other = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `B ${k}` }, headers: { 'idempotency-key': k } });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('idempotency_key_reused');
    expect(other.headers.get('content-type')).toMatch(/problem\+json/);
    const otherRoute = await t.request('POST', '/api/v1/contacts', { token: t.org.token, body: { lastName: `A ${k}` }, headers: { 'idempotency-key': k } });
    expect(otherRoute.status).toBe(422);
    expect(await accountsNamed(`B ${k}`)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM contacts WHERE last_name = $1', [`A ${k}`])).toBe(0);
  });

  it('keys are scoped to the caller: the same key from two users makes two records', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    const k = key();
    const name = `Scoped ${k}`;
    const a = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name }, headers: { 'idempotency-key': k } });
    const b = await t.request('POST', '/api/v1/accounts', { token: rep.token, body: { name }, headers: { 'idempotency-key': k } });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(a.body.id).not.toBe(b.body.id);
    expect(await accountsNamed(name)).toBe(2);
  });

  it('PATCH and DELETE replay instead of applying twice', async () => {
    const acc = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `Patchy ${key()}` } });
    const pk = key();
    const patch = () =>
      t.request('PATCH', `/api/v1/accounts/${acc.body.id}`, {
        token: t.org.token,
        body: { phone: '555' },
        headers: { 'idempotency-key': pk, 'if-match': '"1"' },
      });
    const p1 = await patch();
    const p2 = await patch();
    expect([p1.status, p2.status]).toEqual([200, 200]);
    expect(p2.headers.get('idempotent-replayed')).toBe('true');
    expect(p2.body).toEqual(p1.body);
    expect(p2.headers.get('etag')).toBe('"2"');

    const dk = key();
    const del = () => t.request('DELETE', `/api/v1/accounts/${acc.body.id}`, { token: t.org.token, headers: { 'idempotency-key': dk, 'if-match': '"2"' } });
    const d1 = await del();
    const d2 = await del();
    expect([d1.status, d2.status]).toEqual([204, 204]);
    expect(d2.headers.get('idempotent-replayed')).toBe('true');
    const row = await t.admin.query('SELECT version FROM accounts WHERE id = $1', [acc.body.id]);
    expect(row.rows[0].version).toBe(3);
    await sealAudit(t.admin);
    expect(await count(`SELECT count(*) AS n FROM audit_log WHERE record_id = $1 AND action IN ('update', 'delete')`, [acc.body.id])).toBe(2);
  });

  it('lead conversion with a key converts once and replays the first answer', async () => {
    const lead = await t.request('POST', '/api/v1/leads', { token: t.org.token, body: { lastName: 'Convertible', company: `Co ${key()}` } });
    const k = key();
    const convert = () =>
      t.request('POST', `/api/v1/leads/${lead.body.id}/convert`, { token: t.org.token, body: { createOpportunity: true }, headers: { 'idempotency-key': k } });
    const [c1, c2] = [await convert(), await convert()];
    expect([c1.status, c2.status]).toEqual([200, 200]);
    expect(c2.headers.get('idempotent-replayed')).toBe('true');
    expect(c2.body).toEqual(c1.body);
    expect(await accountsNamed(lead.body.company)).toBe(1);
    const other = await t.request('POST', `/api/v1/leads/${lead.body.id}/convert`, {
      token: t.org.token,
      body: { createOpportunity: false },
      headers: { 'idempotency-key': k },
    });
    expect(other.status).toBe(422);
  });

  it('custom field creation with a key creates one field and replays', async () => {
    const k = key();
    const body = { name: 'loyaltyTier', label: 'Loyalty tier', type: 'text' };
    const f1 = await t.request('POST', '/api/v1/metadata/objects/accounts/fields', { token: t.org.token, body, headers: { 'idempotency-key': k } });
    const f2 = await t.request('POST', '/api/v1/metadata/objects/accounts/fields', { token: t.org.token, body, headers: { 'idempotency-key': k } });
    expect([f1.status, f2.status]).toEqual([201, 201]);
    expect(f2.headers.get('idempotent-replayed')).toBe('true');
    expect(f2.body).toEqual(f1.body);
    const f3 = await t.request('POST', '/api/v1/metadata/objects/accounts/fields', {
      token: t.org.token,
      body: { ...body, label: 'Other' },
      headers: { 'idempotency-key': k },
    });
    expect(f3.status).toBe(422);
    expect(await count(`SELECT count(*) AS n FROM field_definitions WHERE name = 'loyaltyTier'`, [])).toBe(1);
  });

  it('requests arriving while the first is still running get 409 (or the replay), never a second record', async () => {
    for (let round = 0; round < 3; round++) {
      const k = key();
      const name = `slow:${k}`;
      const send = () => t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name }, headers: { 'idempotency-key': k } });
      const first = send();
      // Wait until the first one is inside its transaction, then pile on.
      await waitFor(async () => (await count(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'`, [])) > 0);
      const rest = await Promise.all(Array.from({ length: 5 }, send));
      const all = [await first, ...rest];
      const executed = all.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
      expect(executed).toHaveLength(1);
      for (const r of all) {
        if (r === executed[0]) continue;
        if (r.status === 409) {
          expect(r.body.code).toBe('idempotency_in_progress');
          expect(r.headers.get('retry-after')).toBe('1');
        } else {
          expect(r.status).toBe(201);
          expect(r.headers.get('idempotent-replayed')).toBe('true');
          expect(r.body.id).toBe(executed[0].body.id);
        }
      }
      expect(rest.some((r) => r.status === 409)).toBe(true);
      expect(await accountsNamed(name)).toBe(1);
      // After the first finished, the key answers with the stored response.
      const later = await send();
      expect(later.headers.get('idempotent-replayed')).toBe('true');
      expect(later.body.id).toBe(executed[0].body.id);
    }
  });

  it('bursts of the same key with no artificial delay never produce two records or a 5xx', async () => {
    for (let round = 0; round < 25; round++) {
      const k = key();
      const name = `Burst ${k}`;
      const all = await Promise.all(
        Array.from({ length: 8 }, () => t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name }, headers: { 'idempotency-key': k } })),
      );
      for (const r of all) expect([201, 409]).toContain(r.status);
      expect(all.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
      expect(new Set(all.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);
      expect(await accountsNamed(name)).toBe(1);
    }
  });

  it('rejects a malformed key', async () => {
    const res = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'x' }, headers: { 'idempotency-key': 'a'.repeat(256) } });
    expect(res.status).toBe(400);
  });
});

describe('write receipts', () => {
  it('are kept at least 24 hours, then purged by basalt_purge_write_receipts', async () => {
    const k = key();
    const name = `Expiring ${k}`;
    await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name }, headers: { 'idempotency-key': k } });
    const kept = await t.admin.query(`SELECT expires_at > now() + interval '24 hours' AS ok FROM write_receipts WHERE key = $1`, [k]);
    expect(kept.rows).toEqual([{ ok: true }]);

    await t.admin.query(`UPDATE write_receipts SET expires_at = now() - interval '1 second' WHERE key = $1`, [k]);
    const fresh = await count('SELECT count(*) AS n FROM write_receipts WHERE expires_at > now()', []);
    // The maintenance job runs as the application role.
    const purged = await t.pool.query<{ n: number }>('SELECT basalt_purge_write_receipts(1000) AS n');
    expect(purged.rows[0].n).toBeGreaterThanOrEqual(1);
    expect(await count('SELECT count(*) AS n FROM write_receipts WHERE key = $1', [k])).toBe(0);
    expect(await count('SELECT count(*) AS n FROM write_receipts WHERE expires_at > now()', [])).toBe(fresh);
  });
});

async function waitFor(cond: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}
