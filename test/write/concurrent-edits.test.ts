import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type UserFixture, sealAudit } from '../support/harness.ts';

let t: TestApp;
let lisbon: UserFixture;
let osaka: UserFixture;
beforeAll(async () => {
  t = await startTestApp();
  lisbon = await t.createUser(t.org.orgId, 'admin');
  osaka = await t.createUser(t.org.orgId, 'admin');
});
afterAll(async () => t?.close());

async function newOpportunity(name: string): Promise<string> {
  const res = await t.request('POST', '/api/v1/opportunities', {
    token: t.org.token,
    body: { name, stage: 'prospecting', amount: '1000.00', currency: 'EUR' },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function etagOf(id: string): Promise<string> {
  const res = await t.request('GET', `/api/v1/opportunities/${id}`, { token: t.org.token });
  return res.headers.get('etag') as string;
}

const patch = (user: UserFixture, id: string, etag: string, body: Record<string, unknown>) =>
  t.request('PATCH', `/api/v1/opportunities/${id}`, { token: user.token, body, headers: { 'if-match': etag } });

async function dbState(id: string) {
  const row = await t.admin.query('SELECT version, next_step, probability FROM opportunities WHERE id = $1', [id]);
  await sealAudit(t.admin);
  const audits = await t.admin.query(`SELECT count(*)::int AS n FROM audit_log WHERE record_id = $1 AND action = 'update'`, [id]);
  return { ...row.rows[0], updates: audits.rows[0].n as number };
}

describe('two editors in different offices, editing the same opportunity at the same moment', () => {
  it('same field: exactly one wins, the other gets 412 with yours/theirs, never a lost update (50 rounds)', async () => {
    const id = await newOpportunity('Same-field deal');
    let wins = 0;
    for (let i = 0; i < 50; i++) {
      const etag = await etagOf(id);
      const mine = `Lisbon step ${i}`;
      const theirs = `Osaka step ${i}`;
      const [a, b] = await Promise.all([patch(lisbon, id, etag, { nextStep: mine }), patch(osaka, id, etag, { nextStep: theirs })]);
      expect([a.status, b.status].sort()).toEqual([200, 412]);
      const [won, lost] = a.status === 200 ? [a, b] : [b, a];
      const wonValue = won === a ? mine : theirs;
      const lostValue = won === a ? theirs : mine;
      expect(won.body.nextStep).toBe(wonValue);
      expect(lost.body.code).toBe('version_conflict');
      expect(lost.body.conflicts).toEqual([{ field: 'nextStep', yours: lostValue, theirs: wonValue }]);
      expect(lost.body.current.nextStep).toBe(wonValue);
      expect(lost.headers.get('etag')).toBe(won.headers.get('etag'));
      wins++;
      const state = await dbState(id);
      expect(state.next_step).toBe(wonValue);
      expect(state.version).toBe(1 + wins);
    }
    // Every acknowledged change is in the trail once; no 412 wrote anything.
    expect((await dbState(id)).updates).toBe(wins);
  });

  it('different fields: both are applied (field-level merge), 50 rounds', async () => {
    const id = await newOpportunity('Different-field deal');
    for (let i = 0; i < 50; i++) {
      const etag = await etagOf(id);
      const step = `step ${i}`;
      const probability = i % 100;
      const [a, b] = await Promise.all([patch(lisbon, id, etag, { nextStep: step }), patch(osaka, id, etag, { probability })]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const state = await dbState(id);
      expect(state.next_step).toBe(step);
      expect(state.probability).toBe(probability);
      expect(state.version).toBe(1 + 2 * (i + 1));
    }
    expect((await dbState(id)).updates).toBe(100);
  });

  it('a stale If-Match is merged only when none of its fields changed since', async () => {
    const id = await newOpportunity('Stale deal');
    expect((await patch(lisbon, id, '"1"', { nextStep: 'call' })).status).toBe(200);
    const merged = await patch(osaka, id, '"1"', { probability: 40 });
    expect(merged.status).toBe(200);
    expect(merged.body).toMatchObject({ nextStep: 'call', probability: 40, version: 3 });
    const conflict = await patch(osaka, id, '"1"', { nextStep: 'email', probability: 50 });
    expect(conflict.status).toBe(412);
    expect(conflict.body.conflicts).toEqual([
      { field: 'nextStep', yours: 'email', theirs: 'call' },
      { field: 'probability', yours: 50, theirs: 40 },
    ]);
    expect((await dbState(id)).probability).toBe(40); // nothing of the rejected PATCH was written
    const future = await patch(osaka, id, '"99"', { probability: 50 });
    expect(future.status).toBe(412);
  });

  it('PATCH and DELETE without If-Match are refused with 428', async () => {
    const id = await newOpportunity('Unconditional deal');
    const p = await t.request('PATCH', `/api/v1/opportunities/${id}`, { token: t.org.token, body: { probability: 10 } });
    expect(p.status).toBe(428);
    expect(p.body.code).toBe('precondition_required');
    const d = await t.request('DELETE', `/api/v1/opportunities/${id}`, { token: t.org.token });
    expect(d.status).toBe(428);
    expect((await dbState(id)).version).toBe(1);
  });

  it('a DELETE racing an edit never deletes a version it did not see', async () => {
    for (let i = 0; i < 10; i++) {
      const id = await newOpportunity(`Race ${i}`);
      const [p, d] = await Promise.all([
        patch(lisbon, id, '"1"', { probability: 5 }),
        t.request('DELETE', `/api/v1/opportunities/${id}`, { token: osaka.token, headers: { 'if-match': '"1"' } }),
      ]);
      const row = (await t.admin.query('SELECT deleted_at, probability FROM opportunities WHERE id = $1', [id])).rows[0];
      if (d.status === 204) {
        // The delete went first: the edit finds no record (404), it is not applied to a deleted one.
        expect([404, 412]).toContain(p.status);
        expect(row.probability).toBeNull();
      } else {
        expect([p.status, d.status]).toEqual([200, 412]);
        expect(row.deleted_at).toBeNull();
      }
    }
  });
});
