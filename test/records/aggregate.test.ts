import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, type UserFixture } from '../support/harness.ts';
import { Api, errorPaths, expectProblem } from './helpers.ts';

/**
 * GET /api/v1/{object}/count and /aggregate: the list's filters, row-level security and
 * field checks, answered by the database instead of by paging through records.
 */

let t: TestApp;
let admin: Api;
let repA: UserFixture;
let repB: UserFixture;
let manager: UserFixture;

const DEALS: [string, string, string | null, string | null][] = [
  // [stage, owner, amount, currency]
  ['prospecting', 'a', '100.10', 'EUR'],
  ['prospecting', 'a', '50.00', 'EUR'],
  ['prospecting', 'b', '7.00', 'USD'],
  ['proposal', 'b', '1000.00', 'EUR'],
  ['closed_won', 'a', '300.00', 'EUR'],
  ['closed_won', 'b', null, null],
  ['closed_lost', 'a', '20.00', 'EUR'],
];

async function setSharing(sharing: 'private' | 'public_read'): Promise<void> {
  await t.admin.query('UPDATE organizations SET sharing_default = $1 WHERE id = $2', [sharing, t.org.orgId]);
}

beforeAll(async () => {
  t = await startTestApp();
  admin = new Api(t, t.org.token);
  const team = await t.createTeam(t.org.orgId);
  const otherTeam = await t.createTeam(t.org.orgId);
  repA = await t.createUser(t.org.orgId, 'rep', { teamId: team });
  repB = await t.createUser(t.org.orgId, 'rep', { teamId: otherTeam });
  manager = await t.createUser(t.org.orgId, 'manager', { teamId: team });
  for (const [i, [stage, owner, amount, currency]] of DEALS.entries()) {
    await admin.create('opportunities', { name: `Deal ${i}`, stage, amount, currency, ownerId: owner === 'a' ? repA.id : repB.id });
  }
  const deleted = await admin.create('opportunities', { name: 'Deleted deal', stage: 'proposal', amount: '5.00', currency: 'EUR' });
  expect((await admin.delete(`/api/v1/opportunities/${deleted.id}`, 1)).status).toBe(204);
  await setSharing('private');
});
afterAll(async () => t?.close());

describe('GET /api/v1/{object}/count', () => {
  it('counts what the list would show, with the same filters', async () => {
    expect((await admin.get('/api/v1/opportunities/count')).body).toEqual({ count: DEALS.length });
    const filtered = await admin.get('/api/v1/opportunities/count?filter[stage][in]=prospecting,proposal&filter[amount][gte]=50');
    expect(filtered.status, filtered.text).toBe(200);
    expect(filtered.body).toEqual({ count: 3 });
    expect((await admin.get('/api/v1/opportunities/count?filter[currency]=EUR')).body.count).toBe(5);
    expect((await admin.get('/api/v1/opportunities/count?filter[amount][isNull]=true')).body.count).toBe(1);
    expect((await admin.get('/api/v1/opportunities/count?deleted=true')).body.count).toBe(DEALS.length + 1);
    // Agrees with the list walked to the end.
    const listed = await admin.listAll('opportunities', 'filter[stage][ne]=closed_lost');
    expect((await admin.get('/api/v1/opportunities/count?filter[stage][ne]=closed_lost')).body.count).toBe(listed.length);
  });

  it('a rep under private sharing counts only their own records; a manager their team’s', async () => {
    const own = DEALS.filter((d) => d[1] === 'a').length;
    expect((await t.request('GET', '/api/v1/opportunities/count', { token: repA.token })).body).toEqual({ count: own });
    expect((await t.request('GET', '/api/v1/opportunities/count', { token: repB.token })).body).toEqual({ count: DEALS.length - own });
    expect((await t.request('GET', '/api/v1/opportunities/count', { token: manager.token })).body).toEqual({ count: own });
    await setSharing('public_read');
    try {
      expect((await t.request('GET', '/api/v1/opportunities/count', { token: repA.token })).body).toEqual({ count: DEALS.length });
    } finally {
      await setSharing('private');
    }
  });

  it('another tenant counts nothing of ours; a role without read access is refused', async () => {
    const other = await t.createOrg('Other');
    expect((await t.request('GET', '/api/v1/opportunities/count', { token: other.token })).body).toEqual({ count: 0 });
    const agent = await t.createUser(t.org.orgId, 'agent');
    expectProblem(await t.request('GET', '/api/v1/leads/count', { token: agent.token }), 403, 'forbidden');
  });

  it('rejects unknown fields, operators, values and list-only parameters with 400 validation_failed', async () => {
    expect(errorPaths(await admin.get('/api/v1/opportunities/count?filter[nope]=1'))).toEqual(['filter[nope][eq]']);
    expect(errorPaths(await admin.get('/api/v1/opportunities/count?filter[amount][contains]=1'))).toEqual(['filter[amount][contains]']);
    expect(errorPaths(await admin.get('/api/v1/opportunities/count?filter[amount][gt]=lots'))).toEqual(['filter[amount][gt]']);
    expect(errorPaths(await admin.get('/api/v1/opportunities/count?cursor=abc'))).toEqual(['cursor']);
    expect(errorPaths(await admin.get('/api/v1/opportunities/count?groupBy=stage'))).toEqual(['groupBy']);
    expectProblem(await admin.get('/api/v1/widgets/count'), 404, 'not_found');
  });
});

describe('GET /api/v1/{object}/aggregate', () => {
  it('counts and sums per group, picklists in their declared order, empty groups last', async () => {
    const res = await admin.get('/api/v1/opportunities/aggregate?groupBy=stage&sum=amount');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      data: [
        { key: 'prospecting', group: { stage: 'prospecting' }, count: 3, sum: '157.10' },
        { key: 'proposal', group: { stage: 'proposal' }, count: 1, sum: '1000.00' },
        { key: 'closed_won', group: { stage: 'closed_won' }, count: 2, sum: '300.00' },
        { key: 'closed_lost', group: { stage: 'closed_lost' }, count: 1, sum: '20.00' },
      ],
      truncated: false,
    });
  });

  it('groups by two fields (amounts in different currencies are never added) and honours filters', async () => {
    const res = await admin.get('/api/v1/opportunities/aggregate?groupBy=stage,currency&sum=amount&filter[stage][in]=prospecting,closed_won');
    expect(res.body.data).toEqual([
      { key: 'prospecting', group: { stage: 'prospecting', currency: 'EUR' }, count: 2, sum: '150.10' },
      { key: 'prospecting', group: { stage: 'prospecting', currency: 'USD' }, count: 1, sum: '7.00' },
      { key: 'closed_won', group: { stage: 'closed_won', currency: 'EUR' }, count: 1, sum: '300.00' },
      { key: 'closed_won', group: { stage: 'closed_won', currency: null }, count: 1, sum: '0.00' },
    ]);
    // The pipeline report is the same aggregate in its own shape.
    const report = await admin.get('/api/v1/reports/pipeline');
    expect(report.body.data[0]).toEqual({ stage: 'prospecting', currency: 'EUR', count: 2, amount: '150.10' });
  });

  it('without groupBy gives one total; by a lookup, a boolean-free count; sorted by count or sum on request', async () => {
    expect((await admin.get('/api/v1/opportunities/aggregate?sum=amount&filter[currency]=EUR')).body.data).toEqual([
      { key: null, group: {}, count: 5, sum: '1470.10' },
    ]);
    const byOwner = await admin.get('/api/v1/opportunities/aggregate?groupBy=ownerId&sort=-count');
    expect(byOwner.body.data.map((r: { key: string; count: number }) => [r.key, r.count])).toEqual([
      [repA.id, 4],
      [repB.id, 3],
    ]);
    const top = await admin.get('/api/v1/opportunities/aggregate?groupBy=stage&sum=amount&sort=-sum&limit=1');
    expect(top.body).toEqual({ data: [{ key: 'proposal', group: { stage: 'proposal' }, count: 1, sum: '1000.00' }], truncated: true });
    const integers = await admin.get('/api/v1/opportunities/aggregate?sum=probability');
    expect(integers.body.data[0].sum).toBe('0');
  });

  it('groups custom picklist and boolean fields like standard ones', async () => {
    for (const [name, type, options] of [
      ['tier', 'picklist', ['gold', 'silver']],
      ['strategic', 'boolean', undefined],
      ['budget', 'currency', undefined],
    ] as const) {
      const res = await admin.post('/api/v1/metadata/objects/accounts/fields', { name, label: name, type, ...(options ? { options } : {}) });
      expect(res.status, res.text).toBe(201);
    }
    await admin.create('accounts', { name: 'A1', tier: 'silver', strategic: true, budget: { amount: '10.50', currency: 'EUR' } });
    await admin.create('accounts', { name: 'A2', tier: 'gold', strategic: true, budget: { amount: '1.25', currency: 'EUR' } });
    await admin.create('accounts', { name: 'A3', tier: 'gold', strategic: false });
    const tiers = await admin.get('/api/v1/accounts/aggregate?groupBy=tier,strategic&sum=budget');
    expect(tiers.status, tiers.text).toBe(200);
    expect(tiers.body.data).toEqual([
      { key: 'gold', group: { tier: 'gold', strategic: false }, count: 1, sum: '0.00' },
      { key: 'gold', group: { tier: 'gold', strategic: true }, count: 1, sum: '1.25' },
      { key: 'silver', group: { tier: 'silver', strategic: true }, count: 1, sum: '10.50' },
    ]);
  });

  it('respects row-level security: a rep under private sharing aggregates only their own records', async () => {
    const res = await t.request('GET', '/api/v1/opportunities/aggregate?groupBy=stage&sum=amount', { token: repB.token });
    expect(res.body.data).toEqual([
      { key: 'prospecting', group: { stage: 'prospecting' }, count: 1, sum: '7.00' },
      { key: 'proposal', group: { stage: 'proposal' }, count: 1, sum: '1000.00' },
      { key: 'closed_won', group: { stage: 'closed_won' }, count: 1, sum: '0.00' },
    ]);
  });

  it('rejects fields that cannot be grouped or summed, and malformed parameters, with 400 validation_failed', async () => {
    const bad = (q: string) => admin.get(`/api/v1/opportunities/aggregate?${q}`);
    expect(errorPaths(await bad('groupBy=nope'))).toEqual(['groupBy']);
    expect(errorPaths(await bad('groupBy=name'))).toEqual(['groupBy']); // text
    expect(errorPaths(await bad('groupBy=amount'))).toEqual(['groupBy']); // decimal
    expect(errorPaths(await bad('groupBy=stage,currency,ownerId'))).toEqual(['groupBy']);
    expect(errorPaths(await bad('groupBy=stage,stage'))).toEqual(['groupBy']);
    expect(errorPaths(await bad('sum=stage'))).toEqual(['sum']);
    expect(errorPaths(await bad('sum=version'))).toEqual(['sum']); // system field
    expect(errorPaths(await bad('sum=nope'))).toEqual(['sum']);
    expect(errorPaths(await bad('sort=-sum'))).toEqual(['sort']);
    expect(errorPaths(await bad('sort=name'))).toEqual(['sort']);
    expect(errorPaths(await bad('limit=0'))).toEqual(['limit']);
    expect(errorPaths(await bad('groupBy=stage&groupBy=currency'))).toEqual(['groupBy']);
    expect(errorPaths(await bad('filter[stage][in]=nope'))).toEqual(['filter[stage][in]']);
    expect(errorPaths(await bad('fields=name'))).toEqual(['fields']);
  });
});

describe('routing: count and aggregate beside /{object}/{id}', () => {
  it('static segments win, and records are still found by id', async () => {
    const record = await admin.create('contacts', { lastName: 'Routing' });
    expect((await admin.get(`/api/v1/contacts/${record.id}`)).body.id).toBe(record.id);
    expect((await admin.get('/api/v1/contacts/count')).body).toEqual({ count: 1 });
    expect((await admin.get('/api/v1/contacts/aggregate')).body).toEqual({ data: [{ key: null, group: {}, count: 1 }], truncated: false });
    expect((await admin.get(`/api/v1/contacts/${record.id}/history`)).status).toBe(200);
    // Near misses are record ids that do not exist, and writes to the static paths are not records either.
    expectProblem(await admin.get('/api/v1/contacts/counts'), 404, 'not_found');
    expectProblem(await admin.patch('/api/v1/contacts/count', { lastName: 'x' }, 1), 404, 'not_found');
    expectProblem(await admin.delete('/api/v1/contacts/aggregate', 1), 404, 'not_found');
    // The router sends these to the static handlers (the route shows in the metrics label).
    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toContain('route="/api/v1/:object/count"');
    expect(metrics.text).toContain('route="/api/v1/:object/aggregate"');
  });
});
