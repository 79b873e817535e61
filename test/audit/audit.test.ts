import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/audit.service.ts';
import { AuditSealer } from '../../src/audit/sealer.ts';
import { Doorbell } from '../../src/events/doorbell.ts';
import { type OrgFixture, sealAudit, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

interface Entry {
  seq: number;
  id: string;
  at: string;
  actorId: string;
  actorType: string;
  requestId: string;
  object: string;
  recordId: string;
  action: string;
  changes: { field: string; old: unknown; new: unknown }[];
  hash: string;
  prevHash: string;
}

async function createAccount(org: OrgFixture, name: string, requestId?: string): Promise<{ id: string }> {
  const res = await t.request('POST', '/api/v1/accounts', {
    token: org.token,
    body: { name },
    headers: requestId ? { 'x-request-id': requestId } : {},
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function verify(org: OrgFixture) {
  const res = await t.request('GET', '/api/v1/audit/verify', { token: org.token });
  expect(res.status).toBe(200);
  return res.body as { valid: boolean; entries: number; head: string; firstBadEntry?: { seq: number; id: string | null; reason: string } };
}

describe('audit trail', () => {
  it('records create, update and delete with actor, request id and per-field old/new values', async () => {
    const acc = await createAccount(t.org, 'Audited Inc', 'req-audit-create');
    const patched = await t.request('PATCH', `/api/v1/accounts/${acc.id}`, {
      token: t.org.token,
      body: { phone: '+1 555 0100' },
      headers: { 'if-match': '"1"', 'x-request-id': 'req-audit-patch' },
    });
    expect(patched.status).toBe(200);
    const deleted = await t.request('DELETE', `/api/v1/accounts/${acc.id}`, { token: t.org.token, headers: { 'if-match': '"2"' } });
    expect(deleted.status).toBe(204);

    const res = await t.request('GET', `/api/v1/audit?recordId=${acc.id}&order=asc`, { token: t.org.token });
    expect(res.status).toBe(200);
    const entries = res.body.data as Entry[];
    expect(entries.map((e) => e.action)).toEqual(['create', 'update', 'delete']);
    expect(entries.every((e) => e.actorId === t.org.adminId && e.object === 'accounts' && e.recordId === acc.id)).toBe(true);
    expect(entries[0].requestId).toBe('req-audit-create');
    expect(entries[1].requestId).toBe('req-audit-patch');
    expect(entries[1].changes).toEqual([{ field: 'phone', old: null, new: '+1 555 0100' }]);
    expect(entries[1].prevHash).toMatch(/^[0-9a-f]{64}$/);
    expect(entries[1].seq).toBeGreaterThan(entries[0].seq);
    expect((await verify(t.org)).valid).toBe(true);
  });

  it('is for administrators only', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    expect((await t.request('GET', '/api/v1/audit', { token: rep.token })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/audit/verify', { token: rep.token })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/audit')).status).toBe(401);
  });

  it('filters by object, action, actor and time, and pages by seq without gaps or repeats', async () => {
    const org = await t.createOrg('Paging Org');
    const rep = await t.createUser(org.orgId, 'rep');
    const start = new Date().toISOString();
    for (let i = 0; i < 7; i++) await createAccount(org, `Paged ${i}`);
    const contact = await t.request('POST', '/api/v1/contacts', { token: rep.token, body: { lastName: 'Byrep' } });
    expect(contact.status).toBe(201);

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/v1/audit?object=accounts&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await t.request('GET', q, { token: org.token });
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(3);
      seen.push(...(page.body.data as Entry[]).map((e) => e.seq));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(7);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen); // newest first
    expect(new Set(seen).size).toBe(7);

    const byRep = await t.request('GET', `/api/v1/audit?actorId=${rep.id}`, { token: org.token });
    expect((byRep.body.data as Entry[]).map((e) => e.object)).toEqual(['contacts']);
    const creates = await t.request('GET', `/api/v1/audit?action=create&from=${start}`, { token: org.token });
    expect(creates.body.data).toHaveLength(8);
    const none = await t.request('GET', `/api/v1/audit?to=${start}`, { token: org.token });
    expect(none.body.data).toHaveLength(0);
    // Tenants see only their own trail.
    const other = await t.request('GET', '/api/v1/audit?limit=500', { token: t.org.token });
    expect((other.body.data as Entry[]).some((e) => e.recordId === contact.body.id)).toBe(false);
  });

  it('rejects bad query parameters with 400', async () => {
    for (const q of ['limit=0', 'limit=501', 'recordId=nope', 'from=yesterday', 'cursor=xyz', 'order=up', 'colour=red', 'limit=1&limit=2']) {
      const res = await t.request('GET', `/api/v1/audit?${q}`, { token: t.org.token });
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
  });
});

describe('audit chain integrity', () => {
  it('the application role cannot UPDATE, DELETE or TRUNCATE audit rows; the superuser is stopped by the trigger', async () => {
    await createAccount(t.org, 'Immutable');
    for (const sql of ["UPDATE audit_log SET action = 'x'", 'DELETE FROM audit_log', 'TRUNCATE audit_log']) {
      await expect(t.pool.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    }
    await expect(t.admin.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only/);
    await expect(t.admin.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(t.admin.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });

  it('a transaction that fails after its audit entries were written leaves none of them', async () => {
    await t.admin.query(`
      CREATE FUNCTION fail_on_marker() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.entry::text LIKE '%fail-at-commit%' THEN RAISE EXCEPTION 'injected failure at commit'; END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER audit_fail_at_commit AFTER INSERT ON audit_pending
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_on_marker();`);
    try {
      const before = await verify(t.org);
      const res = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'fail-at-commit' } });
      expect(res.status).toBe(500);
      const rows = await t.admin.query(
        `SELECT (SELECT count(*) FROM accounts WHERE name = 'fail-at-commit')::int AS records,
                (SELECT count(*) FROM audit_log WHERE changes::text LIKE '%fail-at-commit%')::int +
                (SELECT count(*) FROM audit_pending WHERE entry::text LIKE '%fail-at-commit%')::int AS audits,
                (SELECT count(*) FROM outbox WHERE payload::text LIKE '%fail-at-commit%')::int AS events`,
      );
      expect(rows.rows[0]).toEqual({ records: 0, audits: 0, events: 0 });
      const after = await verify(t.org);
      expect(after).toMatchObject({ valid: true, entries: before.entries, head: before.head });
    } finally {
      await t.admin.query('DROP TRIGGER audit_fail_at_commit ON audit_pending; DROP FUNCTION fail_on_marker()');
    }
  });

  it('verify names the first entry whose content was changed behind the application’s back', async () => {
    const org = await t.createOrg('Tampered Org');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createAccount(org, `Honest ${i}`)).id);
    const good = await verify(org);
    expect(good).toMatchObject({ valid: true, entries: 5 });

    const victim = await t.admin.query('SELECT seq, id FROM audit_log WHERE organization_id = $1 AND record_id = $2', [org.orgId, ids[2]]);
    const client = await t.admin.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL session_replication_role = replica'); // user triggers off
      await client.query(`UPDATE audit_log SET changes = '[{"field":"name","old":null,"new":"Forged"}]' WHERE organization_id = $1 AND seq = $2`, [
        org.orgId,
        victim.rows[0].seq,
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const bad = await verify(org);
    expect(bad.valid).toBe(false);
    expect(bad.entries).toBe(5);
    expect(bad.firstBadEntry).toMatchObject({ seq: Number(victim.rows[0].seq), id: victim.rows[0].id, reason: 'hash_mismatch' });
    // Small batches find the same entry (batch boundaries do not matter).
    const c2 = await t.admin.connect();
    try {
      const direct = await verifyChain(c2, org.orgId, 2);
      expect(direct.firstBadEntry?.seq).toBe(Number(victim.rows[0].seq));
    } finally {
      c2.release();
    }
  });

  it('verify notices a deleted entry and a re-linked chain', async () => {
    const org = await t.createOrg('Deleted Org');
    for (let i = 0; i < 4; i++) await createAccount(org, `Kept ${i}`);
    await sealAudit(t.admin);
    await t.admin.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
    try {
      await t.admin.query('DELETE FROM audit_log WHERE organization_id = $1 AND seq = 2', [org.orgId]);
    } finally {
      await t.admin.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    }
    expect((await verify(org)).firstBadEntry).toMatchObject({ seq: 3, reason: 'seq_gap' });

    const org2 = await t.createOrg('Truncated Org');
    for (let i = 0; i < 3; i++) await createAccount(org2, `Tail ${i}`);
    await sealAudit(t.admin);
    await t.admin.query('ALTER TABLE audit_log DISABLE TRIGGER USER');
    try {
      await t.admin.query('DELETE FROM audit_log WHERE organization_id = $1 AND seq = 3', [org2.orgId]);
    } finally {
      await t.admin.query('ALTER TABLE audit_log ENABLE TRIGGER USER');
    }
    expect(await verify(org2)).toMatchObject({ valid: false, entries: 2, firstBadEntry: { seq: 3, reason: 'head_mismatch' } });
  });

  it('a write does not wait for the chain: its entry is linked after commit, by the next seal', async () => {
    const org = await t.createOrg('Sealed Later Org');
    await createAccount(org, 'Before the lock');
    await sealAudit(t.admin);
    // A sealer (here: a session holding the chain head's lock) must not hold up writers.
    const holder = await t.admin.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT seq FROM audit_heads WHERE organization_id = $1 FOR UPDATE', [org.orgId]);
      const created = await createAccount(org, 'While the head is locked');
      const pending = await t.admin.query("SELECT entry->>'recordId' AS id, entry->>'action' AS action FROM audit_pending WHERE organization_id = $1", [
        org.orgId,
      ]);
      expect(pending.rows).toEqual([{ id: created.id, action: 'create' }]);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    // A read links what is committed before it answers.
    const v = await verify(org);
    expect(v).toMatchObject({ valid: true, entries: 2, pending: 0 });
  });

  it('the background sealer links committed entries in every organization without any read', async () => {
    const orgs = [await t.createOrg('Sealer Org A'), await t.createOrg('Sealer Org B')];
    for (const org of orgs) for (let i = 0; i < 3; i++) await createAccount(org, `Background ${i}`);
    const ids = orgs.map((o) => o.orgId);
    const pendingCount = async () =>
      Number((await t.admin.query('SELECT count(*) AS n FROM audit_pending WHERE organization_id = ANY($1)', [ids])).rows[0].n);
    expect(await pendingCount()).toBeGreaterThan(0);
    const sealer = new AuditSealer({ pool: t.pool, pollMs: 50 }).start();
    try {
      await expect.poll(pendingCount, { timeout: 10_000, interval: 50 }).toBe(0);
    } finally {
      await sealer.stop();
    }
    for (const org of orgs) {
      const c = await t.admin.connect();
      try {
        // Checked without a read's own seal: the background sealer did the linking.
        expect(await verifyChain(c, org.orgId)).toMatchObject({ valid: true, entries: 3, pending: 0 });
      } finally {
        c.release();
      }
    }
  });

  it('the background sealer works through a backlog larger than its batch back to back, then waits for new commits', async () => {
    const org = await t.createOrg('Backlog Org');
    for (let i = 0; i < 7; i++) await createAccount(org, `Backlog ${i}`);
    const pending = async () =>
      Number((await t.admin.query('SELECT count(*) AS n FROM audit_pending WHERE organization_id = $1', [org.orgId])).rows[0].n);
    expect(await pending()).toBe(7);
    // The real pool, with its seals counted.
    let seals = 0;
    const counted = {
      query: (sql: string, params: unknown[]) => {
        seals += 1;
        return t.pool.query(sql, params);
      },
    } as unknown as typeof t.pool;
    const doorbell = new Doorbell();
    // Batches of 2 and a poll interval no test waits for: only full batches go on at once.
    const sealer = new AuditSealer({ pool: counted, doorbell, batchSize: 2, pollMs: 600_000, gatherMs: 0 }).start();
    try {
      await expect.poll(pending, { timeout: 10_000, interval: 50 }).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      // 2 + 2 + 2 + 1, and no seal after the last, short batch: each seal is a commit of its own.
      expect(seals).toBe(4);
      // An entry committed now waits for the doorbell (rung after commits) or the poll.
      await createAccount(org, 'After the backlog');
      await new Promise((r) => setTimeout(r, 200));
      expect(await pending()).toBe(1);
      doorbell.ring();
      await expect.poll(pending, { timeout: 10_000, interval: 50 }).toBe(0);
      expect(seals).toBe(5);
    } finally {
      await sealer.stop();
    }
    expect(await verify(org)).toMatchObject({ valid: true, entries: 8, pending: 0 });
  });

  it('one organization whose pending entry cannot be linked does not stop the others', async () => {
    const [broken, healthy] = [await t.createOrg('Poisoned Org'), await t.createOrg('Healthy Org')];
    await createAccount(broken, 'Before the bad entry');
    await t.admin.query(`INSERT INTO audit_pending (organization_id, entry) VALUES ($1, '{"id": "not-a-uuid", "body": "{}"}')`, [broken.orgId]);
    await createAccount(healthy, 'Linked anyway');
    const pending = async (orgId: string) =>
      Number((await t.admin.query('SELECT count(*) AS n FROM audit_pending WHERE organization_id = $1', [orgId])).rows[0].n);
    const sealer = new AuditSealer({ pool: t.pool, pollMs: 50 }).start();
    try {
      await expect.poll(() => pending(healthy.orgId), { timeout: 10_000, interval: 50 }).toBe(0);
    } finally {
      await sealer.stop();
    }
    // The broken organization keeps its entries (nothing is dropped), the other is linked;
    // its audit reads still answer, counting what could not be linked as pending.
    expect(await pending(broken.orgId)).toBe(2);
    expect(await verify(broken)).toMatchObject({ valid: true, entries: 0, pending: 2 });
    await t.admin.query('DELETE FROM audit_pending WHERE organization_id = $1 AND entry->>\'id\' = \'not-a-uuid\'', [broken.orgId]);
    expect(await verify(healthy)).toMatchObject({ valid: true, entries: 1, pending: 0 });
    expect(await verify(broken)).toMatchObject({ valid: true, entries: 1, pending: 0 });
  });

  it('many concurrent writers in one organization keep one unbroken chain', async () => {
    const org = await t.createOrg('Busy Org');
    const users = [await t.createUser(org.orgId, 'rep'), await t.createUser(org.orgId, 'manager'), { token: org.token }];
    const results = await Promise.all(
      Array.from({ length: 48 }, (_, i) =>
        t.request('POST', '/api/v1/accounts', { token: users[i % users.length].token, body: { name: `Concurrent ${i}` } }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(48).fill(201));
    // Concurrent updates of the same records too.
    const updates = await Promise.all(
      results.slice(0, 16).map((r, i) =>
        t.request('PATCH', `/api/v1/accounts/${r.body.id}`, { token: org.token, body: { phone: `555-${i}` }, headers: { 'if-match': '"1"' } }),
      ),
    );
    expect(updates.map((r) => r.status)).toEqual(Array(16).fill(200));

    const v = await verify(org);
    expect(v).toMatchObject({ valid: true, entries: 64 });
    const seqs = await t.admin.query('SELECT seq FROM audit_log WHERE organization_id = $1 ORDER BY seq', [org.orgId]);
    expect(seqs.rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
  });
});
