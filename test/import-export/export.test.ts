import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvReader } from '../../src/import-export/csv.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  const rows = Array.from({ length: 4500 }, (_, i) => `Bulk ${String(i).padStart(4, '0')},bulk${i}@example.com,${i % 3 === 0 ? 'Engineer' : 'Sales'}`);
  const res = await t.request('POST', '/api/v1/contacts/import', {
    token: t.org.token,
    raw: ['lastName,email,title', ...rows].join('\n'),
    contentType: 'text/csv',
  });
  if (res.status !== 201 || res.body.rowsInserted !== 4500) throw new Error(`seed import failed: ${res.text.slice(0, 500)}`);
});
afterAll(async () => t?.close());

function parseCsv(text: string): string[][] {
  const reader = new CsvReader();
  const out = [...reader.push(Buffer.from(text)), ...reader.end()];
  return out.map((r) => {
    if (!r.ok) throw new Error(r.message);
    return r.cells;
  });
}

describe('export', () => {
  it('streams CSV with the list filters and sort, every matching record once', async () => {
    const res = await t.request('GET', '/api/v1/contacts/export?filter[title]=Engineer&sort=lastName&fields=lastName,email,title', {
      token: t.org.token,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/csv');
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="contacts-.*\.csv"/);
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual(['id', 'version', 'lastName', 'email', 'title']);
    expect(rows).toHaveLength(1500);
    expect(new Set(rows.map((r) => r[0])).size).toBe(1500);
    expect(rows.every((r) => r[4] === 'Engineer')).toBe(true);
    const names = rows.map((r) => r[2]);
    expect(names).toEqual([...names].sort());
  });

  it('streams NDJSON records shaped like the JSON API', async () => {
    const res = await t.request('GET', '/api/v1/contacts/export?format=ndjson&filter[lastName][startsWith]=Bulk%20000', { token: t.org.token });
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = res.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(10);
    const api = await t.request('GET', `/api/v1/contacts/${lines[0].id}`, { token: t.org.token });
    expect(lines[0]).toEqual(api.body);
  });

  it('writes NDJSON lines equal to the JSON API record for every kind of value', async () => {
    // An organization of its own: the pipeline report below sums this one's opportunities.
    const org = await t.createOrg('Ndjson Org');
    for (const [name, type] of [
      ['nps', 'number'],
      ['vip', 'boolean'],
      ['motto', 'text'],
    ]) {
      const f = await t.request('POST', '/api/v1/metadata/objects/opportunities/fields', { token: org.token, body: { name, label: name, type } });
      expect(f.status, f.text).toBe(201);
    }
    const made = await t.request('POST', '/api/v1/opportunities', {
      token: org.token,
      body: {
        name: 'Ndjson "quoted"\n\u2028line\\slash \u{1F600} <script>',
        amount: '1234.50',
        currency: 'EUR',
        probability: 40,
        closeDate: '2027-03-31',
        nps: 7.5,
        vip: false,
        motto: '=cmd|x',
      },
    });
    expect(made.status, made.text).toBe(201);
    const api = await t.request('GET', `/api/v1/opportunities/${made.body.id}`, { token: org.token });
    const res = await t.request('GET', '/api/v1/opportunities/export?format=ndjson&filter[name][startsWith]=Ndjson', { token: org.token });
    expect(res.status).toBe(200);
    const lines = res.text.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(JSON.parse(lines[0])).toEqual(api.body);
    const some = await t.request('GET', '/api/v1/opportunities/export?format=ndjson&fields=amount,vip&filter[name][startsWith]=Ndjson', {
      token: org.token,
    });
    expect(JSON.parse(some.text)).toEqual({ id: api.body.id, version: api.body.version, amount: '1234.50', vip: false });
  });

  it('writes timestamps exactly as the JSON API does (microseconds truncated to milliseconds)', async () => {
    const created = await t.request('POST', '/api/v1/contacts', { token: t.org.token, body: { lastName: 'Microsecond Export' } });
    expect(created.status).toBe(201);
    await t.admin.query("UPDATE contacts SET updated_at = '2026-01-01 23:59:59.999999+00' WHERE id = $1", [created.body.id]);
    const api = await t.request('GET', `/api/v1/contacts/${created.body.id}`, { token: t.org.token });
    expect(api.body.updatedAt).toBe('2026-01-01T23:59:59.999Z');
    const ndjson = await t.request('GET', '/api/v1/contacts/export?format=ndjson&filter[lastName][eq]=Microsecond%20Export', { token: t.org.token });
    expect(JSON.parse(ndjson.text.trim())).toEqual(api.body);
    const csv = await t.request('GET', '/api/v1/contacts/export?fields=id,createdAt,updatedAt&filter[lastName][eq]=Microsecond%20Export', { token: t.org.token });
    const [header, line] = csv.text.trim().split('\r\n').map((l) => l.split(','));
    const cell = (name: string) => line[header.indexOf(name)];
    expect([cell('createdAt'), cell('updatedAt')]).toEqual([api.body.createdAt, api.body.updatedAt]);
  });

  it('escapes cells a spreadsheet would run as formulas, and quotes separators', async () => {
    const made = await t.request('POST', '/api/v1/contacts', {
      token: t.org.token,
      body: { firstName: '=HYPERLINK("http://evil")', lastName: 'Zz Formula', title: '@SUM(A1)', phone: '+1 555', department: 'a,b\n"c"' },
    });
    expect(made.status).toBe(201);
    const res = await t.request('GET', '/api/v1/contacts/export?filter[lastName]=Zz%20Formula&fields=firstName,title,phone,department', {
      token: t.org.token,
    });
    const [, row] = parseCsv(res.text);
    expect(row.slice(2)).toEqual(["'=HYPERLINK(\"http://evil\")", "'+1 555", "'@SUM(A1)", 'a,b\n"c"']); // declaration order
    expect(res.text).toContain('"\'=HYPERLINK(""http://evil"")"');
  });

  it('round-trips: an exported file imports back as unchanged records', async () => {
    const exp = await t.request('GET', '/api/v1/contacts/export?filter[lastName][startsWith]=Bulk%2001&fields=lastName,email,title,ownerId', {
      token: t.org.token,
    });
    const res = await t.request('POST', '/api/v1/contacts/import?upsertBy=email', { token: t.org.token, raw: exp.text, contentType: 'text/csv' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ rowsRead: 100, rowsUnchanged: 100, rowsInserted: 0, rowsRejected: 0 });
  });

  it('rejects bad filters, paging parameters and formats before streaming', async () => {
    for (const q of ['filter[nope]=1', 'limit=10', 'cursor=abc', 'format=xml', 'sort=body']) {
      const res = await t.request('GET', `/api/v1/contacts/export?${q}`, { token: t.org.token });
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe('validation_failed');
    }
    const ro = await t.createUser(t.org.orgId, 'agent');
    expect((await t.request('GET', '/api/v1/leads/export', { token: ro.token })).status).toBe(403);
  });

  it('exports only what row-level security lets the caller read', async () => {
    const other = await t.createOrg('Other Org');
    const res = await t.request('GET', '/api/v1/contacts/export?format=ndjson', { token: other.token });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
  });
});

describe('pipeline report', () => {
  it('sums amounts per stage and currency', async () => {
    for (const [stage, amount, currency] of [
      ['proposal', '100.10', 'EUR'],
      ['proposal', '50.00', 'EUR'],
      ['proposal', '7.00', 'USD'],
      ['closed_won', '1000.00', 'EUR'],
    ]) {
      await t.request('POST', '/api/v1/opportunities', { token: t.org.token, body: { name: `Deal ${stage}`, stage, amount, currency } });
    }
    const res = await t.request('GET', '/api/v1/reports/pipeline', { token: t.org.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([
      { stage: 'proposal', currency: 'EUR', count: 2, amount: '150.10' },
      { stage: 'proposal', currency: 'USD', count: 1, amount: '7.00' },
      { stage: 'closed_won', currency: 'EUR', count: 1, amount: '1000.00' },
    ]);
    expect((await t.request('GET', '/api/v1/reports/pipeline?x=1', { token: t.org.token })).status).toBe(400);
  });
});
