import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpResult, startTestApp, type TestApp } from '../support/harness.ts';
import { Api, errorPaths, expectProblem } from './helpers.ts';

let t: TestApp;
let api: Api;
let account: Record<string, any>;
const opps: Record<string, any>[] = [];
const acts: Record<string, any>[] = [];

// Names are unique (they identify rows in expectations); other columns repeat and hold NULLs.
const OPPS = [
  { name: 'alpha', amount: '100.00', probability: 10, stage: 'prospecting', closeDate: '2026-01-15', currency: 'EUR' },
  { name: 'Beta', amount: '250.50', probability: 50, stage: 'proposal', closeDate: '2026-02-01', currency: 'USD' },
  { name: 'gamma', amount: null, probability: null, stage: 'proposal', closeDate: null, currency: null },
  { name: 'delta 100%', amount: '100.00', probability: 90, stage: 'closed_won', closeDate: '2026-02-01', currency: 'EUR' },
  { name: 'epsilon_x', amount: '-5.00', probability: 0, stage: 'closed_lost', closeDate: '2025-12-31', currency: 'EUR' },
  { name: 'ALPHA two', amount: '9999.99', probability: 10, stage: 'prospecting', closeDate: null, currency: 'GBP' },
];

beforeAll(async () => {
  t = await startTestApp();
  api = new Api(t, t.org.token);
  account = await api.create('accounts', { name: 'Holder' });
  for (const o of OPPS) {
    const body = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
    opps.push(await api.create('opportunities', { ...body, accountId: o.name.startsWith('alpha') ? account.id : undefined }));
  }
  for (const [i, dueAt] of ['2026-05-01T08:00:00Z', '2026-05-01T12:30:00+02:00', null, '2026-05-02T00:00:00Z'].entries()) {
    acts.push(await api.create('activities', { subject: `act ${i}`, ...(dueAt ? { dueAt } : {}), type: i % 2 ? 'call' : 'task' }));
  }
});
afterAll(async () => t?.close());

async function names(query: string): Promise<string[]> {
  const res = await api.get(`/api/v1/opportunities?${query}`);
  expect(res.status, `${query}: ${res.text}`).toBe(200);
  return (res.body.data as { name: string }[]).map((r) => r.name).sort();
}

function expected(pred: (o: (typeof OPPS)[number]) => boolean): string[] {
  return OPPS.filter(pred)
    .map((o) => o.name)
    .sort();
}

const num = (v: string | null) => (v === null ? null : Number(v));

describe('filters: every op on every type', () => {
  const cases: [string, (o: (typeof OPPS)[number]) => boolean][] = [
    // text
    ['filter[name]=gamma', (o) => o.name === 'gamma'],
    ['filter[name][eq]=gamma', (o) => o.name === 'gamma'],
    ['filter[name][ne]=gamma', (o) => o.name !== 'gamma'],
    ['filter[name][in]=gamma,Beta,nobody', (o) => ['gamma', 'Beta'].includes(o.name)],
    ['filter[name][lt]=alpha', (o) => o.name < 'alpha'],
    ['filter[name][lte]=alpha', (o) => o.name <= 'alpha'],
    ['filter[name][gt]=delta', (o) => o.name > 'delta'],
    ['filter[name][gte]=delta 100%25', (o) => o.name >= 'delta 100%'],
    ['filter[name][contains]=ALP', (o) => o.name.toLowerCase().includes('alp')],
    ['filter[name][contains]=%25', (o) => o.name.includes('%')],
    ['filter[name][contains]=_', (o) => o.name.includes('_')],
    ['filter[name][startsWith]=al', (o) => o.name.toLowerCase().startsWith('al')],
    ['filter[name][isNull]=false', () => true],
    ['filter[name][isNull]=true', () => false],
    // decimal
    ['filter[amount]=100', (o) => num(o.amount) === 100],
    ['filter[amount][ne]=100.00', (o) => num(o.amount) !== 100],
    ['filter[amount][in]=100,250.5', (o) => [100, 250.5].includes(num(o.amount) as number)],
    ['filter[amount][lt]=100', (o) => o.amount !== null && Number(o.amount) < 100],
    ['filter[amount][lte]=100', (o) => o.amount !== null && Number(o.amount) <= 100],
    ['filter[amount][gt]=100', (o) => o.amount !== null && Number(o.amount) > 100],
    ['filter[amount][gte]=-5', (o) => o.amount !== null && Number(o.amount) >= -5],
    ['filter[amount][isNull]=true', (o) => o.amount === null],
    ['filter[amount][isNull]=false', (o) => o.amount !== null],
    // integer
    ['filter[probability][eq]=10', (o) => o.probability === 10],
    ['filter[probability][ne]=10', (o) => o.probability !== 10],
    ['filter[probability][in]=0,90', (o) => o.probability === 0 || o.probability === 90],
    ['filter[probability][lt]=50', (o) => o.probability !== null && o.probability < 50],
    ['filter[probability][lte]=50', (o) => o.probability !== null && o.probability <= 50],
    ['filter[probability][gt]=0', (o) => o.probability !== null && o.probability > 0],
    ['filter[probability][gte]=90', (o) => o.probability !== null && o.probability >= 90],
    ['filter[probability][isNull]=true', (o) => o.probability === null],
    // picklist
    ['filter[stage]=proposal', (o) => o.stage === 'proposal'],
    ['filter[stage][ne]=proposal', (o) => o.stage !== 'proposal'],
    ['filter[stage][in]=closed_won,closed_lost', (o) => o.stage.startsWith('closed')],
    ['filter[stage][isNull]=false', () => true],
    // date
    ['filter[closeDate]=2026-02-01', (o) => o.closeDate === '2026-02-01'],
    ['filter[closeDate][ne]=2026-02-01', (o) => o.closeDate !== '2026-02-01'],
    ['filter[closeDate][in]=2026-02-01,2025-12-31', (o) => o.closeDate === '2026-02-01' || o.closeDate === '2025-12-31'],
    ['filter[closeDate][lt]=2026-02-01', (o) => o.closeDate !== null && o.closeDate < '2026-02-01'],
    ['filter[closeDate][lte]=2026-02-01', (o) => o.closeDate !== null && o.closeDate <= '2026-02-01'],
    ['filter[closeDate][gt]=2026-01-15', (o) => o.closeDate !== null && o.closeDate > '2026-01-15'],
    ['filter[closeDate][gte]=2026-01-15', (o) => o.closeDate !== null && o.closeDate >= '2026-01-15'],
    ['filter[closeDate][isNull]=true', (o) => o.closeDate === null],
    // currency code
    ['filter[currency]=EUR', (o) => o.currency === 'EUR'],
    ['filter[currency][in]=USD,GBP', (o) => o.currency === 'USD' || o.currency === 'GBP'],
    ['filter[currency][ne]=EUR', (o) => o.currency !== 'EUR'],
    ['filter[currency][isNull]=true', (o) => o.currency === null],
    // lookup
    ['filter[accountId][isNull]=false', (o) => o.name.startsWith('alpha')],
    // several filters AND together
    ['filter[stage]=prospecting&filter[probability][lte]=10&filter[name][contains]=two', (o) => o.name === 'ALPHA two'],
    ['filter[amount][gte]=0&filter[amount][lt]=1000', (o) => o.amount !== null && Number(o.amount) >= 0 && Number(o.amount) < 1000],
  ];
  it.each(cases)('%s', async (query, pred) => {
    expect(await names(query)).toEqual(expected(pred));
  });

  it('filters on lookup and uuid fields by id', async () => {
    expect(await names(`filter[accountId]=${account.id}`)).toEqual(['alpha']);
    expect(await names(`filter[accountId][in]=${account.id},${opps[0].id}`)).toEqual(['alpha']);
    expect(await names(`filter[id]=${opps[1].id}`)).toEqual(['Beta']);
    expect(await names(`filter[ownerId]=${t.org.adminId}`)).toHaveLength(OPPS.length);
  });

  it('filters datetimes (offsets normalised; a bare date means its midnight UTC)', async () => {
    const subjects = async (q: string) =>
      ((await api.get(`/api/v1/activities?${q}`)).body.data as { subject: string }[]).map((a) => a.subject).sort();
    expect(await subjects('filter[dueAt]=2026-05-01T10:30:00Z')).toEqual(['act 1']);
    expect(await subjects('filter[dueAt][gte]=2026-05-01T09:00:00Z')).toEqual(['act 1', 'act 3']);
    expect(await subjects('filter[dueAt][lt]=2026-05-02')).toEqual(['act 0', 'act 1']);
    expect(await subjects('filter[dueAt][lte]=2026-05-02')).toEqual(['act 0', 'act 1', 'act 3']);
    expect(await subjects('filter[dueAt][gt]=2026-05-01T08:00:00%2B00:00')).toEqual(['act 1', 'act 3']);
    expect(await subjects('filter[dueAt][ne]=2026-05-02T00:00:00Z')).toEqual(['act 0', 'act 1', 'act 2']);
    expect(await subjects('filter[dueAt][in]=2026-05-02T00:00:00Z,2026-05-01T08:00:00Z')).toEqual(['act 0', 'act 3']);
    expect(await subjects('filter[dueAt][isNull]=true')).toEqual(['act 2']);
    expect(await subjects(`filter[createdAt][gte]=${acts[2].createdAt}`)).toEqual(['act 2', 'act 3']);
  });

  const bad: [string, string][] = [
    ['filter[nope]=1', 'filter[nope][eq]'],
    ['filter[name][like]=a', 'filter[name][like]'],
    ['filter[amount][contains]=1', 'filter[amount][contains]'],
    ['filter[stage][lt]=proposal', 'filter[stage][lt]'],
    ['filter[amount]=abc', 'filter[amount][eq]'],
    ['filter[amount]=1.234', 'filter[amount][eq]'],
    ['filter[probability]=1.5', 'filter[probability][eq]'],
    ['filter[probability][gt]=99999999999', 'filter[probability][gt]'],
    ['filter[probability][in]=1,x', 'filter[probability][in]'],
    ['filter[stage]=bogus', 'filter[stage][eq]'],
    ['filter[closeDate]=2026-13-01', 'filter[closeDate][eq]'],
    ['filter[closeDate][gt]=0000-01-01', 'filter[closeDate][gt]'],
    ['filter[accountId]=not-a-uuid', 'filter[accountId][eq]'],
    ['filter[currency]=eur', 'filter[currency][eq]'],
    ['filter[name][isNull]=yes', 'filter[name][isNull]'],
    ['filter[name]=a&filter[name]=b', 'filter[name][eq]'],
    ['filters[name]=a', 'filters[name]'],
    ['sort=nope', 'sort'],
    ['sort=', 'sort'],
    ['sort=a,b,c,d,e,f', 'sort'],
    ['fields=name,nope', 'fields'],
    ['deleted=maybe', 'deleted'],
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=-1', 'limit'],
    ['limit=ten', 'limit'],
    ['cursor=***', 'cursor'],
  ];
  it.each(bad)('%s → 400 validation_failed at %s', async (query, path) => {
    expect(errorPaths(await api.get(`/api/v1/opportunities?${query}`))).toContain(path);
  });

  it('reports every bad parameter at once', async () => {
    const paths = errorPaths(await api.get('/api/v1/opportunities?filter[nope]=1&limit=0&sort=zzz'));
    expect(paths).toEqual(expect.arrayContaining(['filter[nope][eq]', 'limit', 'sort']));
  });
});

describe('sort, projection, limit', () => {
  it('sorts ascending and descending, NULLs last, ties broken by id in the first key’s direction', async () => {
    const all = await api.listAll('opportunities', 'sort=amount');
    expect(all.map((r) => r.amount)).toEqual(['-5.00', '100.00', '100.00', '250.50', '9999.99', null]);
    const tie = all.filter((r) => r.amount === '100.00').map((r) => r.id);
    expect(tie).toEqual([...tie].sort());
    const desc = await api.listAll('opportunities', 'sort=-amount');
    expect(desc.map((r) => r.amount)).toEqual(['9999.99', '250.50', '100.00', '100.00', '-5.00', null]);
    const tieDesc = desc.filter((r) => r.amount === '100.00').map((r) => r.id);
    expect(tieDesc).toEqual([...tie].reverse());
  });

  it('sorts by several keys', async () => {
    const all = await api.listAll('opportunities', 'sort=-probability,closeDate,name');
    expect(all.map((r) => r.name)).toEqual(['delta 100%', 'Beta', 'alpha', 'ALPHA two', 'epsilon_x', 'gamma']);
    const byStage = await api.listAll('opportunities', 'sort=stage,-name');
    expect(byStage.map((r) => r.name)).toEqual(['epsilon_x', 'delta 100%', 'gamma', 'Beta', 'alpha', 'ALPHA two']);
  });

  it('sort=id and sort=-id order by id', async () => {
    const asc = (await api.listAll('opportunities', 'sort=id')).map((r) => r.id);
    expect(asc).toEqual([...asc].sort());
    const desc = (await api.listAll('opportunities', 'sort=-id')).map((r) => r.id);
    expect(desc).toEqual([...asc].reverse());
  });

  it('default order is newest first', async () => {
    const all = await api.listAll('opportunities');
    expect(all.map((r) => r.id)).toEqual(opps.map((o) => o.id).reverse());
  });

  it('pages through ties with a small limit, never repeating or skipping', async () => {
    for (const sort of ['stage', '-stage', 'currency,-closeDate', '-amount,probability', 'closeDate']) {
      const full = (await api.listAll('opportunities', `sort=${sort}`)).map((r) => r.id);
      const walked: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: HttpResult<{ data: { id: string }[]; nextCursor: string | null }> = await api.get(`/api/v1/opportunities?sort=${sort}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, res.text).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        walked.push(...res.body.data.map((r) => r.id));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 20);
      expect(walked, sort).toEqual(full);
      expect(pages).toBe(3);
    }
  });

  it('a cursor belongs to its sort', async () => {
    const first = await api.get('/api/v1/opportunities?sort=name&limit=2');
    expect(first.body.nextCursor).toEqual(expect.any(String));
    expect(errorPaths(await api.get(`/api/v1/opportunities?sort=-name&limit=2&cursor=${first.body.nextCursor}`))).toEqual(['cursor']);
    const idAsc = await api.get('/api/v1/opportunities?sort=id&limit=2');
    expect(errorPaths(await api.get(`/api/v1/opportunities?sort=-id&limit=2&cursor=${idAsc.body.nextCursor}`))).toEqual(['cursor']);
  });

  it('fields=a,b returns only those plus id and version', async () => {
    const res = await api.get('/api/v1/opportunities?fields=name,amount&limit=3');
    expect(res.status).toBe(200);
    for (const r of res.body.data) expect(Object.keys(r).sort()).toEqual(['amount', 'id', 'name', 'version']);
    const only = await api.get('/api/v1/opportunities?fields=id&limit=1');
    expect(Object.keys(only.body.data[0]).sort()).toEqual(['id', 'version']);
  });

  it('limit defaults to 50 and allows up to 500', async () => {
    for (let i = 0; i < 55; i++) await api.create('cases', { subject: `case ${i}` });
    const first = await api.get('/api/v1/cases');
    expect(first.body.data).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await api.get(`/api/v1/cases?cursor=${first.body.nextCursor}`);
    expect(second.body.data).toHaveLength(5);
    expect(second.body.nextCursor).toBeNull();
    const max = await api.get('/api/v1/cases?limit=500');
    expect(max.body.data).toHaveLength(55);
    expect(max.body.nextCursor).toBeNull();
    const one = await api.get('/api/v1/cases?limit=1');
    expect(one.body.data).toHaveLength(1);
    expectProblem(await api.get('/api/v1/cases?limit=1&limit=2'), 400, 'validation_failed');
  });
});

describe('search', () => {
  it('finds records by name prefix, trigram and email, only of readable objects', async () => {
    await api.create('contacts', { firstName: 'Zebulon', lastName: 'Quartermaine', email: 'zq@example.org' });
    const res = await api.get('/api/v1/search?q=zebu');
    expect(res.status, res.text).toBe(200);
    expect(res.body.data[0]).toMatchObject({ object: 'contacts', title: 'Zebulon Quartermaine', score: expect.any(Number) });
    expect((await api.get('/api/v1/search?q=Quartermain')).body.data.map((h: { object: string }) => h.object)).toContain('contacts');
    expect((await api.get('/api/v1/search?q=zebulon&objects=accounts')).body.data).toEqual([]);
    expectProblem(await api.get('/api/v1/search'), 400, 'validation_failed');
    expectProblem(await api.get('/api/v1/search?q=x&objects=widgets'), 400, 'validation_failed');
    expectProblem(await api.get('/api/v1/search?q=x&limit=0'), 400, 'validation_failed');
    const agent = await t.createUser(t.org.orgId, 'agent');
    await api.create('leads', { lastName: 'Zebulonsson' });
    const asAgent = await new Api(t, agent.token).get('/api/v1/search?q=zebulon');
    expect(asAgent.body.data.map((h: { object: string }) => h.object)).not.toContain('leads');
  });
});
