import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { Api, errorPaths, expectProblem, MISSING_ID, tableCounts } from './helpers.ts';

let t: TestApp;
let api: Api;
beforeAll(async () => {
  t = await startTestApp();
  api = new Api(t, t.org.token);
});
afterAll(async () => t?.close());

const convert = (id: string, body: unknown = {}) => api.post(`/api/v1/leads/${id}/convert`, body);

describe('lead conversion', () => {
  it('creates an account, a contact and an opportunity, and marks the lead converted', async () => {
    const lead = await api.create('leads', {
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@engines.example',
      company: 'Analytical Engines',
      title: 'Countess',
      phone: '+44 20 0000',
      source: 'referral',
    });
    const res = await convert(lead.id, { createOpportunity: true, opportunityName: 'Engine No. 1' });
    expect(res.status, res.text).toBe(200);
    const { accountId, contactId, opportunityId } = res.body;
    expect([accountId, contactId, opportunityId].every((x) => typeof x === 'string')).toBe(true);

    expect((await api.get(`/api/v1/accounts/${accountId}`)).body).toMatchObject({ name: 'Analytical Engines', ownerId: lead.ownerId });
    expect((await api.get(`/api/v1/contacts/${contactId}`)).body).toMatchObject({
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@engines.example',
      title: 'Countess',
      accountId,
    });
    expect((await api.get(`/api/v1/opportunities/${opportunityId}`)).body).toMatchObject({
      name: 'Engine No. 1',
      accountId,
      stage: 'prospecting',
      leadSource: 'referral',
    });
    const after = await api.get(`/api/v1/leads/${lead.id}`);
    expect(after.body).toMatchObject({
      status: 'converted',
      convertedAccountId: accountId,
      convertedContactId: contactId,
      convertedOpportunityId: opportunityId,
      version: 2,
    });
    expect(after.body.convertedAt).toMatch(/Z$/);
    const history = (await api.get(`/api/v1/leads/${lead.id}/history`)).body.data as { action: string; field: string }[];
    expect(history.filter((h) => h.action === 'convert').map((h) => h.field)).toEqual(expect.arrayContaining(['status', 'convertedAccountId']));
  });

  it('uses an existing account and may skip the opportunity', async () => {
    const account = await api.create('accounts', { name: 'Existing Ltd' });
    const lead = await api.create('leads', { lastName: 'Babbage', company: 'Ignored Inc' });
    const before = await tableCounts(t);
    const res = await convert(lead.id, { accountId: account.id, createOpportunity: false });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ accountId: account.id, contactId: expect.any(String), opportunityId: null });
    const after = await tableCounts(t);
    expect(after.accounts).toBe(before.accounts);
    expect(after.contacts).toBe(before.contacts + 1);
    expect(after.opportunities).toBe(before.opportunities);
    expect((await api.get(`/api/v1/contacts/${res.body.contactId}`)).body.accountId).toBe(account.id);
  });

  it('names the account after the person when the lead has no company', async () => {
    const lead = await api.create('leads', { firstName: 'Grace', lastName: 'Hopper' });
    const res = await convert(lead.id, { createOpportunity: false });
    expect((await api.get(`/api/v1/accounts/${res.body.accountId}`)).body.name).toBe('Grace Hopper');
  });

  it('converting twice returns the first result and creates nothing more', async () => {
    const lead = await api.create('leads', { lastName: 'Twice', company: 'Twice Co' });
    const first = await convert(lead.id);
    expect(first.status).toBe(200);
    const before = await tableCounts(t);
    const second = await convert(lead.id, { createOpportunity: false });
    expect([200, 409]).toContain(second.status);
    if (second.status === 200) {
      expect(second.body).toMatchObject({ accountId: first.body.accountId, contactId: first.body.contactId, opportunityId: first.body.opportunityId });
    }
    const after = await tableCounts(t);
    expect({ ...after, audit_log: 0, outbox: 0 }).toEqual({ ...before, audit_log: 0, outbox: 0 });
    expect((await t.admin.query("SELECT count(*)::int AS n FROM accounts WHERE name = 'Twice Co'")).rows[0].n).toBe(1);
  });

  it('concurrent conversions of one lead create one account', async () => {
    const lead = await api.create('leads', { lastName: 'Racer', company: 'Race Condition GmbH' });
    const results = await Promise.all(Array.from({ length: 5 }, () => convert(lead.id)));
    for (const r of results) expect([200, 409]).toContain(r.status);
    const ok = results.filter((r) => r.status === 200);
    expect(new Set(ok.map((r) => r.body.accountId)).size).toBe(1);
    expect((await t.admin.query("SELECT count(*)::int AS n FROM accounts WHERE name = 'Race Condition GmbH'")).rows[0].n).toBe(1);
    expect((await t.admin.query("SELECT count(*)::int AS n FROM contacts WHERE last_name = 'Racer'")).rows[0].n).toBe(1);
  });

  it('is atomic: a failure halfway leaves no account, contact or opportunity and the lead unchanged', async () => {
    const lead = await api.create('leads', { lastName: 'Halfway', company: 'Halfway House' });
    await t.admin.query(`CREATE FUNCTION test_fail_opportunity() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure'; END $$`);
    await t.admin.query(
      'CREATE TRIGGER test_fail_opportunity BEFORE INSERT ON opportunities FOR EACH ROW EXECUTE FUNCTION test_fail_opportunity()',
    );
    try {
      const before = await tableCounts(t);
      const res = await convert(lead.id, { createOpportunity: true });
      expect(res.status).toBe(500);
      expectProblem(res, 500, 'internal_error');
      expect(res.text).not.toContain('injected failure');
      expect(await tableCounts(t)).toEqual(before);
      const unchanged = await api.get(`/api/v1/leads/${lead.id}`);
      expect(unchanged.body).toMatchObject({ status: 'new', version: 1, convertedAccountId: null, convertedContactId: null });
    } finally {
      await t.admin.query('DROP TRIGGER test_fail_opportunity ON opportunities');
      await t.admin.query('DROP FUNCTION test_fail_opportunity()');
    }
    // Once the fault is gone the same conversion works.
    const res = await convert(lead.id, { createOpportunity: true });
    expect(res.status, res.text).toBe(200);
    expect((await t.admin.query("SELECT count(*)::int AS n FROM accounts WHERE name = 'Halfway House'")).rows[0].n).toBe(1);
  });

  it('validates its input and answers 404 for unknown, deleted or malformed leads', async () => {
    const lead = await api.create('leads', { lastName: 'Valid' });
    const before = await tableCounts(t);
    expect(errorPaths(await convert(lead.id, { accountId: 'nope' }))).toEqual(['/accountId']);
    expect(errorPaths(await convert(lead.id, { accountId: MISSING_ID }))).toEqual(['/accountId']);
    expect(errorPaths(await convert(lead.id, { createOpportunity: 'yes' }))).toEqual(['/createOpportunity']);
    expect(errorPaths(await convert(lead.id, { opportunityName: '' }))).toEqual(['/opportunityName']);
    expect(errorPaths(await convert(lead.id, { surprise: 1 }))).toEqual(['/surprise']);
    expect(errorPaths(await convert(lead.id, [1]))).toEqual(['']);
    expectProblem(await convert(MISSING_ID), 404, 'not_found');
    expectProblem(await convert('not-a-uuid'), 404, 'not_found');
    await api.delete(`/api/v1/leads/${lead.id}`, 1);
    expectProblem(await convert(lead.id), 404, 'not_found');
    const after = await tableCounts(t);
    expect(after.accounts + after.contacts + after.opportunities).toBe(before.accounts + before.contacts + before.opportunities);
  });

  it('needs permission to update leads and create the records', async () => {
    const lead = await api.create('leads', { lastName: 'Perm' });
    for (const role of ['agent', 'readonly'] as const) {
      const u = await t.createUser(t.org.orgId, role);
      expectProblem(await new Api(t, u.token).post(`/api/v1/leads/${lead.id}/convert`, {}), 403, 'forbidden');
    }
    await t.admin.query("UPDATE organizations SET sharing_default = 'public_read' WHERE id = $1", [t.org.orgId]);
    const rep = await t.createUser(t.org.orgId, 'rep');
    expectProblem(await new Api(t, rep.token).post(`/api/v1/leads/${lead.id}/convert`, {}), 403, 'forbidden');
    const own = await new Api(t, rep.token).create('leads', { lastName: 'Reps own', company: 'Rep Co' });
    const res = await new Api(t, rep.token).post(`/api/v1/leads/${own.id}/convert`, {});
    expect(res.status, res.text).toBe(200);
    expect((await api.get(`/api/v1/accounts/${res.body.accountId}`)).body.ownerId).toBe(rep.id);
  });
});
