import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beginSql } from '../../src/db/session.ts';
import { startTestApp, type OrgFixture, type TestApp } from '../support/harness.ts';
import { Api, expectProblem, SAMPLES } from './helpers.ts';

/**
 * Tenant isolation is enforced by PostgreSQL row-level security for the restricted
 * application role, not by WHERE clauses in the code: a query that forgets its WHERE
 * must still see one tenant only.
 */

let t: TestApp;
let orgA: OrgFixture;
let orgB: OrgFixture;
let apiA: Api;
let apiB: Api;
const TABLES = ['accounts', 'contacts', 'leads', 'opportunities', 'cases', 'activities'];

async function asApp<T>(setup: string | null, fn: (q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const client = await t.pool.connect();
  try {
    await client.query(setup ?? 'BEGIN');
    return await fn(async (sql) => (await client.query(sql)).rows);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
}

beforeAll(async () => {
  t = await startTestApp();
  orgA = t.org;
  orgB = await t.createOrg('Other Tenant');
  apiA = new Api(t, orgA.token);
  apiB = new Api(t, orgB.token);
  for (let i = 0; i < 3; i++) await apiA.create('contacts', { lastName: `Tenant-A Person ${i}`, email: `a${i}@a.example` });
  await apiB.create('contacts', { lastName: 'Tenant-B Person' });
});
afterAll(async () => t?.close());

describe('row-level security for the application role', () => {
  it('runs as the restricted role', async () => {
    const [row] = await asApp(null, (q) => q('SELECT current_user AS u'));
    expect(row.u).toBe('basalt_app');
  });

  it('a query without WHERE sees only the tenant set in basalt.org_id', async () => {
    const countA = await asApp(`BEGIN; SELECT set_config('basalt.org_id', '${orgA.orgId}', true)`, (q) => q('SELECT count(*)::int AS n FROM contacts'));
    expect(countA[0].n).toBe(3);
    const countB = await asApp(beginSql({ orgId: orgB.orgId }), (q) => q('SELECT count(*)::int AS n FROM contacts'));
    expect(countB[0].n).toBe(1);
    // The same through the full per-request settings (admin scope).
    const admin = await asApp(
      beginSql({ orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' }),
      (q) => q('SELECT DISTINCT organization_id FROM contacts'),
    );
    expect(admin.map((r) => r.organization_id)).toEqual([orgA.orgId]);
    // Scope settings cannot widen the tenant.
    const widened = await asApp(
      `BEGIN; SELECT set_config('basalt.org_id', '${orgA.orgId}', true), set_config('basalt.read_all', 'on', true)`,
      (q) => q('SELECT DISTINCT organization_id FROM contacts'),
    );
    expect(widened.map((r) => r.organization_id)).toEqual([orgA.orgId]);
  });

  it('with no tenant set every tenant table looks empty', async () => {
    const rows = await asApp(null, (q) =>
      q(`SELECT ${[...TABLES, 'users', 'organizations', 'audit_log', 'outbox', 'field_definitions', 'teams']
        .map((x) => `(SELECT count(*) FROM ${x})::int AS ${x}`)
        .join(', ')}`),
    );
    expect(Object.values(rows[0]).every((n) => n === 0)).toBe(true);
    // ... and the superuser sees there is data.
    expect((await t.admin.query('SELECT count(*)::int AS n FROM contacts')).rows[0].n).toBe(4);
  });

  it('cannot write into another tenant', async () => {
    const scope = beginSql({ orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' });
    await asApp(scope, async (q) => {
      await expect(
        q(`INSERT INTO accounts (organization_id, id, owner_id, name) VALUES ('${orgB.orgId}', gen_random_uuid(), '${orgB.adminId}', 'x')`),
      ).rejects.toThrow(/row-level security/);
    });
    await asApp(scope, async (q) => {
      const updated = await q(`UPDATE contacts SET last_name = 'hijacked' WHERE organization_id = '${orgB.orgId}' RETURNING id`);
      expect(updated).toEqual([]);
    });
  });

  it('cannot INSERT, UPDATE, DELETE or TRUNCATE the audit log (only its linking functions write it), nor DELETE records', async () => {
    for (const sql of [
      'UPDATE audit_log SET action = action',
      'DELETE FROM audit_log',
      'TRUNCATE audit_log',
      'DELETE FROM contacts',
      // Linking entries in the transaction is for the session's own organization only.
      `SELECT basalt_append_audit_linked('${orgB.orgId}', '[]')`,
    ]) {
      await asApp(beginSql({ orgId: orgA.orgId }), async (q) => {
        await expect(q(sql), sql).rejects.toMatchObject({ code: '42501' });
      });
    }
    const [priv] = await asApp(null, (q) =>
      q(`SELECT has_table_privilege('audit_log', 'UPDATE') AS u, has_table_privilege('audit_log', 'DELETE') AS d,
                has_table_privilege('audit_log', 'TRUNCATE') AS tr, has_table_privilege('audit_log', 'INSERT') AS i`),
    );
    expect(priv).toEqual({ u: false, d: false, tr: false, i: false });
  });

  it('owns no table, is no superuser and cannot bypass RLS (nor can any role it belongs to)', async () => {
    const roles = await t.admin.query(
      `SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE pg_has_role('basalt_app', oid, 'MEMBER')`,
    );
    expect(roles.rows.map((r) => r.rolname).sort()).toEqual(['basalt_app', 'basalt_app_access']);
    for (const r of roles.rows) expect(r, r.rolname).toMatchObject({ rolsuper: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false });
    const owned = await t.admin.query(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND pg_has_role('basalt_app', tableowner, 'MEMBER')`,
    );
    expect(owned.rows).toEqual([]);
  });

  it('every table holding tenant data has row-level security enabled', async () => {
    const res = await t.admin.query(
      `SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind = 'r'
         AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped)`,
    );
    expect(res.rows.length).toBeGreaterThan(10);
    for (const r of res.rows) expect(r.relrowsecurity, r.relname).toBe(true);
  });
});

describe('cross-tenant access over HTTP', () => {
  let a: Record<string, Record<string, any>>;
  beforeAll(async () => {
    const account = await apiA.create('accounts', { name: 'Xenophobe Holdings', domain: 'xeno.example' });
    a = {
      accounts: account,
      leads: await apiA.create('leads', { lastName: 'Xenolead', company: 'Xeno' }),
      opportunities: await apiA.create('opportunities', { name: 'Xeno deal', accountId: account.id }),
    };
  });

  it('another tenant’s record ids are 404 on every route', async () => {
    for (const [object, rec] of Object.entries(a)) {
      const url = `/api/v1/${object}/${rec.id}`;
      expectProblem(await apiB.get(url), 404, 'not_found');
      expectProblem(await apiB.get(`${url}?deleted=true`), 404, 'not_found');
      expectProblem(await apiB.get(`${url}/history`), 404, 'not_found');
      expectProblem(await apiB.patch(url, { [SAMPLES[object as 'leads'].edit[0]]: 'mine' }, 1), 404, 'not_found');
      expectProblem(await apiB.delete(url, 1), 404, 'not_found');
      expectProblem(await apiB.post(`${url}/restore`), 404, 'not_found');
    }
    expectProblem(await apiB.post(`/api/v1/leads/${a.leads.id}/convert`, {}), 404, 'not_found');
    // Untouched.
    expect((await apiA.get(`/api/v1/accounts/${a.accounts.id}`)).body.version).toBe(1);
  });

  it('another tenant’s ids cannot be referenced', async () => {
    const res = await apiB.post('/api/v1/contacts', { lastName: 'Spy', accountId: a.accounts.id });
    expectProblem(res, 400, 'validation_failed');
    expectProblem(await apiB.post('/api/v1/accounts', { name: 'x', ownerId: orgA.adminId }), 400, 'validation_failed');
    const lead = await apiB.create('leads', { lastName: 'B lead' });
    expectProblem(await apiB.post(`/api/v1/leads/${lead.id}/convert`, { accountId: a.accounts.id }), 400, 'validation_failed');
  });

  it('lists, filters and search never show another tenant’s data', async () => {
    for (const object of ['accounts', 'contacts', 'leads', 'opportunities']) {
      const list = await apiB.listAll(object, 'deleted=true');
      expect(list.every((r) => r.ownerId === orgB.adminId || r.createdBy === orgB.adminId)).toBe(true);
      expect(list.map((r) => r.id)).not.toContain(a[object]?.id);
    }
    expect(await apiB.listAll('accounts', `filter[id]=${a.accounts.id}`)).toEqual([]);
    expect(await apiB.listAll('contacts', 'filter[lastName][startsWith]=Tenant-A')).toEqual([]);
    const idsOfA = new Set((await t.admin.query('SELECT id FROM contacts WHERE organization_id = $1', [orgA.orgId])).rows.map((r) => r.id));
    for (const r of Object.values(a)) idsOfA.add(r.id);
    for (const q of ['xeno', 'Xenophobe Holdings', 'xeno.example', 'tenant-a person', 'a0@a.example', 'person']) {
      const res = await apiB.get(`/api/v1/search?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
      expect(res.body.data.filter((h: { id: string }) => idsOfA.has(h.id)), q).toEqual([]);
      expect((await apiA.get(`/api/v1/search?q=${encodeURIComponent(q)}`)).body.data.length, q).toBeGreaterThan(0);
    }
  });

  it('custom fields are per tenant', async () => {
    const f = await apiA.post('/api/v1/metadata/objects/accounts/fields', { name: 'tier', label: 'Tier', type: 'text' });
    expect(f.status, f.text).toBe(201);
    expect((await apiA.post('/api/v1/accounts', { name: 'ok', tier: 'gold' })).status).toBe(201);
    expectProblem(await apiB.post('/api/v1/accounts', { name: 'no', tier: 'gold' }), 400, 'validation_failed');
    const meta = await apiB.get('/api/v1/metadata/objects/accounts');
    expect(meta.body.fields.map((x: { name: string }) => x.name)).not.toContain('tier');
    expect((await apiB.post('/api/v1/metadata/objects/accounts/fields', { name: 'tier', label: 'Tier', type: 'number' })).status).toBe(201);
  });
});
