import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { Api, errorPaths, expectProblem } from './helpers.ts';

let t: TestApp;
let api: Api;
let parent: Record<string, any>;

const FIELDS_URL = '/api/v1/metadata/objects/accounts/fields';

/** One custom field per type: its definition, a good value (and how it reads back), a wrong value, and a filter. */
const TYPES = [
  { def: { name: 'codeName', label: 'Code name', type: 'text', maxLength: 20 }, good: 'Falcon', wrong: 42, filter: 'filter[codeName][contains]=alc' },
  { def: { name: 'seats', label: 'Seats', type: 'number' }, good: 12.5, wrong: '12', filter: 'filter[seats][gt]=10' },
  { def: { name: 'isPartner', label: 'Partner', type: 'boolean' }, good: true, wrong: 'yes', filter: 'filter[isPartner]=true' },
  { def: { name: 'renewalDate', label: 'Renewal', type: 'date' }, good: '2027-01-31', wrong: '2027-02-30', filter: 'filter[renewalDate][lt]=2027-02-01' },
  {
    def: { name: 'lastAudit', label: 'Last audit', type: 'datetime' },
    good: '2026-06-01T10:00:00+02:00',
    readBack: '2026-06-01T08:00:00.000Z',
    wrong: '2026-06-01 10:00',
    filter: 'filter[lastAudit][gte]=2026-06-01T08:00:00Z',
  },
  {
    def: { name: 'tier', label: 'Tier', type: 'picklist', options: ['gold', 'silver', 'bronze'] },
    good: 'gold',
    wrong: 'platinum',
    filter: 'filter[tier][in]=gold,silver',
  },
  {
    def: { name: 'contractValue', label: 'Contract value', type: 'currency' },
    good: { amount: '1200.5', currency: 'EUR' },
    readBack: { amount: '1200.50', currency: 'EUR' },
    wrong: 1200.5,
    filter: 'filter[contractValue][gte]=1000',
  },
  { def: { name: 'parentAccount', label: 'Parent', type: 'lookup', lookupObject: 'accounts' }, good: 'PARENT', wrong: 'not-a-uuid', filter: 'filter[parentAccount]=PARENT' },
] as const;

const value = (v: unknown) => (v === 'PARENT' ? parent.id : v);

beforeAll(async () => {
  t = await startTestApp();
  api = new Api(t, t.org.token);
  parent = await api.create('accounts', { name: 'Parent Co' });
});
afterAll(async () => t?.close());

describe('defining custom fields', () => {
  it.each(TYPES)('creates a $def.type field', async ({ def }) => {
    const res = await api.post(FIELDS_URL, def);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ object: 'accounts', name: def.name, label: def.label, type: def.type, custom: true, required: false });
    expect(res.body.id).toEqual(expect.any(String));
  });

  it('describes them in GET /metadata/objects like standard fields', async () => {
    const res = await api.get('/api/v1/metadata/objects');
    expect(res.status).toBe(200);
    const accounts = res.body.data.find((o: { name: string }) => o.name === 'accounts');
    const byName = Object.fromEntries(accounts.fields.map((f: { name: string }) => [f.name, f]));
    for (const { def } of TYPES) expect(byName[def.name], def.name).toMatchObject({ type: def.type, custom: true, label: def.label, sortable: true });
    expect(byName.tier.options).toEqual(['gold', 'silver', 'bronze']);
    expect(byName.parentAccount.lookup).toBe('accounts');
    expect(byName.codeName).toMatchObject({ maxLength: 20, searchable: true, filterOps: expect.arrayContaining(['contains', 'startsWith']) });
    expect(byName.isPartner.filterOps).toEqual(['eq', 'ne', 'isNull']);
    expect(byName.name).toMatchObject({ custom: false, required: true });
    const one = await api.get('/api/v1/metadata/objects/accounts');
    expect(one.body.fields.map((f: { name: string }) => f.name)).toEqual(accounts.fields.map((f: { name: string }) => f.name));
    expectProblem(await api.get('/api/v1/metadata/objects/widgets'), 404, 'not_found');
  });

  it('puts them in the OpenAPI document of a signed-in caller', async () => {
    const signedIn = await api.get('/api/v1/openapi.json');
    expect(signedIn.status).toBe(200);
    const schemas = signedIn.body.components.schemas;
    for (const { def } of TYPES) {
      expect(schemas.Account.properties[def.name], def.name).toBeDefined();
      expect(schemas.AccountCreate.properties[def.name], def.name).toBeDefined();
      expect(schemas.AccountUpdate.properties[def.name], def.name).toBeDefined();
    }
    expect(schemas.AccountCreate.properties.tier.enum).toEqual(['gold', 'silver', 'bronze', null]);
    expect(schemas.AccountCreate.properties.contractValue.type).toEqual(['object', 'null']);
    expect(schemas.AccountCreate.properties.codeName.maxLength).toBe(20);
    const anonymous = await t.request('GET', '/api/v1/openapi.json');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.components.schemas.Account.properties.tier).toBeUndefined();
  });

  it('only admins may define fields', async () => {
    for (const role of ['manager', 'rep', 'agent', 'readonly'] as const) {
      const u = await t.createUser(t.org.orgId, role);
      expectProblem(await new Api(t, u.token).post(FIELDS_URL, { name: 'sneaky', label: 'S', type: 'text' }), 403, 'forbidden');
    }
  });

  it('refuses duplicate names (409), including standard and system fields', async () => {
    for (const name of ['codeName', 'name', 'ownerId', 'createdAt', 'custom']) {
      expectProblem(await api.post(FIELDS_URL, { name, label: 'Dup', type: 'text' }), 409);
    }
    // The same name on another object is fine.
    expect((await api.post('/api/v1/metadata/objects/contacts/fields', { name: 'codeName', label: 'C', type: 'text' })).status).toBe(201);
  });

  const bad: [string, unknown, string][] = [
    ['no name', { label: 'x', type: 'text' }, '/name'],
    ['name with spaces', { name: 'bad name', label: 'x', type: 'text' }, '/name'],
    ['name starting upper-case', { name: 'Bad', label: 'x', type: 'text' }, '/name'],
    ['name too long', { name: `a${'b'.repeat(63)}`, label: 'x', type: 'text' }, '/name'],
    ['reserved name', { name: 'constructor', label: 'x', type: 'text' }, '/name'],
    ['reserved name toString', { name: 'toString', label: 'x', type: 'text' }, '/name'],
    ['empty label', { name: 'ok1', label: ' ', type: 'text' }, '/label'],
    ['unknown type', { name: 'ok2', label: 'x', type: 'json' }, '/type'],
    ['picklist without options', { name: 'ok3', label: 'x', type: 'picklist' }, '/options'],
    ['picklist with duplicate options', { name: 'ok4', label: 'x', type: 'picklist', options: ['a', 'a'] }, '/options'],
    ['picklist with non-string options', { name: 'ok5', label: 'x', type: 'picklist', options: [1] }, '/options'],
    ['options on a text field', { name: 'ok6', label: 'x', type: 'text', options: ['a'] }, '/options'],
    ['lookup without lookupObject', { name: 'ok7', label: 'x', type: 'lookup' }, '/lookupObject'],
    ['lookup to an unknown object', { name: 'ok8', label: 'x', type: 'lookup', lookupObject: 'widgets' }, '/lookupObject'],
    ['required not boolean', { name: 'ok9', label: 'x', type: 'text', required: 'yes' }, '/required'],
    ['maxLength out of range', { name: 'ok10', label: 'x', type: 'text', maxLength: 0 }, '/maxLength'],
    ['unknown key', { name: 'ok11', label: 'x', type: 'text', colour: 'red' }, '/colour'],
    ['not an object', ['name'], ''],
  ];
  it.each(bad)('400 for %s', async (_label, body, path) => {
    const before = (await t.admin.query('SELECT count(*)::int AS n FROM field_definitions')).rows[0].n;
    expect(errorPaths(await api.post(FIELDS_URL, body))).toContain(path);
    expect((await t.admin.query('SELECT count(*)::int AS n FROM field_definitions')).rows[0].n).toBe(before);
  });

  it('404 for an unknown object', async () => {
    expectProblem(await api.post('/api/v1/metadata/objects/widgets/fields', { name: 'x', label: 'x', type: 'text' }), 404, 'not_found');
  });
});

describe('custom fields in records', () => {
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const full = Object.fromEntries(TYPES.map(({ def, good }) => [def.name, value(good)]));
    ids.full = (await api.create('accounts', { name: 'Full', ...full })).id;
    ids.other = (
      await api.create('accounts', {
        name: 'Other',
        codeName: 'Eagle',
        seats: 3,
        isPartner: false,
        renewalDate: '2027-06-01',
        lastAudit: '2026-01-01T00:00:00Z',
        tier: 'bronze',
        contractValue: { amount: '99', currency: 'USD' },
      })
    ).id;
    ids.empty = (await api.create('accounts', { name: 'Empty' })).id;
  });

  it('accepts, normalises and returns every type', async () => {
    const got = await api.get(`/api/v1/accounts/${ids.full}`);
    for (const { def, good, ...rest } of TYPES) {
      const expected = 'readBack' in rest ? rest.readBack : value(good);
      expect(got.body[def.name], def.name).toEqual(expected);
    }
    const empty = await api.get(`/api/v1/accounts/${ids.empty}`);
    for (const { def } of TYPES) expect(empty.body[def.name], def.name).toBeNull();
  });

  it.each(TYPES)('rejects a wrongly typed $def.type value at its path, on create and update', async ({ def, wrong }) => {
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', [def.name]: wrong }))).toEqual([`/${def.name}`]);
    const cur = await api.get(`/api/v1/accounts/${ids.empty}`);
    expect(errorPaths(await api.patch(`/api/v1/accounts/${ids.empty}`, { [def.name]: wrong }, cur.body.version))).toEqual([`/${def.name}`]);
  });

  it('checks text maxLength, lookup existence and currency shape', async () => {
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', codeName: 'x'.repeat(21) }))).toEqual(['/codeName']);
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', parentAccount: '01900000-0000-7000-8000-000000000000' }))).toEqual([
      '/parentAccount',
    ]);
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', contractValue: { amount: '1', currency: 'eur' } }))).toEqual(['/contractValue']);
    expect(errorPaths(await api.post('/api/v1/accounts', { name: 'x', contractValue: { amount: '1', currency: 'EUR', x: 1 } }))).toEqual([
      '/contractValue',
    ]);
  });

  it('updates and clears custom values, with history per field', async () => {
    const rec = await api.create('accounts', { name: 'Hist', tier: 'silver', seats: 1 });
    const up = await api.patch(`/api/v1/accounts/${rec.id}`, { tier: 'gold', seats: null }, 1);
    expect(up.status, up.text).toBe(200);
    expect(up.body).toMatchObject({ tier: 'gold', seats: null, version: 2 });
    // Stale version: merges an untouched custom field, conflicts on a changed one.
    expect((await api.patch(`/api/v1/accounts/${rec.id}`, { codeName: 'Merged' }, 1)).status).toBe(200);
    const conflict = await api.patch(`/api/v1/accounts/${rec.id}`, { tier: 'bronze' }, 1);
    expectProblem(conflict, 412, 'version_conflict');
    expect(conflict.body.conflicts).toEqual([{ field: 'tier', yours: 'bronze', theirs: 'gold' }]);
    const history = (await api.get(`/api/v1/accounts/${rec.id}/history`)).body.data as Record<string, unknown>[];
    const updates = history.filter((h) => h.action === 'update');
    expect(updates).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'tier', oldValue: 'silver', newValue: 'gold' }),
        expect.objectContaining({ field: 'seats', oldValue: 1, newValue: null }),
        expect.objectContaining({ field: 'codeName', oldValue: null, newValue: 'Merged' }),
      ]),
    );
  });

  it.each(TYPES)('filters a $def.type field', async ({ filter }) => {
    const res = await api.get(`/api/v1/accounts?${filter.replace('PARENT', parent.id)}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.map((r: { id: string }) => r.id)).toContain(ids.full);
    expect(res.body.data.map((r: { id: string }) => r.id)).not.toContain(ids.empty);
  });

  it('filters with the ops of each type, and refuses the others', async () => {
    const names = async (q: string) => ((await api.get(`/api/v1/accounts?${q}`)).body.data as { name: string }[]).map((r) => r.name).sort();
    expect(await names('filter[isPartner]=false')).toEqual(['Other']);
    expect(await names('filter[isPartner][ne]=true')).toEqual(expect.arrayContaining(['Other', 'Empty', 'Parent Co']));
    expect(await names('filter[isPartner][isNull]=false')).toEqual(['Full', 'Other']);
    expect(await names('filter[seats][lte]=3')).toEqual(['Other']);
    expect(await names('filter[contractValue][lt]=100')).toEqual(['Other']);
    expect(await names('filter[tier][ne]=gold&filter[tier][isNull]=false')).toEqual(['Other']);
    expect(await names('filter[codeName][startsWith]=ea')).toEqual(['Other']);
    expect(await names('filter[renewalDate][gte]=2027-06-01')).toEqual(['Other']);
    expect(await names('filter[lastAudit][lt]=2026-06-01')).toEqual(['Other']);
    for (const q of ['filter[isPartner][gt]=true', 'filter[tier][contains]=g', 'filter[seats][contains]=1', 'filter[isPartner]=yes', 'filter[tier]=platinum']) {
      expectProblem(await api.get(`/api/v1/accounts?${q}`), 400, 'validation_failed');
    }
  });

  it('sorts by custom fields, NULLs last', async () => {
    const order = async (sort: string) =>
      ((await api.listAll('accounts', `sort=${sort}&filter[name][in]=Full,Other,Empty`)) as { name: string }[]).map((r) => r.name);
    expect(await order('seats')).toEqual(['Other', 'Full', 'Empty']);
    expect(await order('-seats')).toEqual(['Full', 'Other', 'Empty']);
    expect(await order('-contractValue')).toEqual(['Full', 'Other', 'Empty']);
    expect(await order('renewalDate')).toEqual(['Full', 'Other', 'Empty']);
    expect(await order('lastAudit')).toEqual(['Other', 'Full', 'Empty']);
    expect(await order('codeName')).toEqual(['Other', 'Full', 'Empty']);
    expect(await order('-isPartner,name')).toEqual(['Full', 'Other', 'Empty']);
    // Through a cursor too.
    const first = await api.get('/api/v1/accounts?sort=-seats&limit=1&filter[name][in]=Full,Other,Empty');
    const second = await api.get(`/api/v1/accounts?sort=-seats&limit=1&filter[name][in]=Full,Other,Empty&cursor=${first.body.nextCursor}`);
    expect(second.body.data[0].name).toBe('Other');
  });

  it('finds records by a text custom field in search', async () => {
    await api.create('accounts', { name: 'Plain', codeName: 'Xylophonic' });
    const res = await api.get('/api/v1/search?q=xylophon');
    expect(res.status).toBe(200);
    expect(res.body.data.map((h: { title: string }) => h.title)).toContain('Plain');
  });

  it('enforces required custom fields on create but not on old records', async () => {
    const old = await api.create('cases', { subject: 'Before' });
    expect((await api.post('/api/v1/metadata/objects/cases/fields', { name: 'region', label: 'Region', type: 'text', required: true })).status).toBe(201);
    expect(errorPaths(await api.post('/api/v1/cases', { subject: 'After' }))).toEqual(['/region']);
    expect((await api.post('/api/v1/cases', { subject: 'After', region: 'EMEA' })).status).toBe(201);
    expect((await api.patch(`/api/v1/cases/${old.id}`, { subject: 'Before, edited' }, 1)).status).toBe(200);
    expect(errorPaths(await api.patch(`/api/v1/cases/${old.id}`, { region: null }, 2))).toEqual(['/region']);
  });
});
