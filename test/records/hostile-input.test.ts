import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { Api, expectNoLeak, expectProblem, MISSING_ID, tableCounts } from './helpers.ts';

/**
 * Hostile and malformed input: always a 4xx problem+json (never a 500, never a stack
 * trace), and nothing written to the database.
 */

let t: TestApp;
let api: Api;
let account: Record<string, any>;

beforeAll(async () => {
  // A small body limit keeps the oversized-body case cheap.
  t = await startTestApp({ BASALT_BODY_LIMIT_BYTES: String(64 * 1024) });
  api = new Api(t, t.org.token);
  account = await api.create('accounts', { name: 'Target' });
  expect((await api.post('/api/v1/metadata/objects/accounts/fields', { name: 'score', label: 'Score', type: 'number' })).status).toBe(201);
});
afterAll(async () => t?.close());

interface Case {
  name: string;
  method?: string;
  path?: string | (() => string);
  raw?: string | Buffer;
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  status: number;
  code?: string;
}

const deep = (n: number, open: string, close: string, leaf = '1') => open.repeat(n) + leaf + close.repeat(n);

const A = () => `/api/v1/accounts/${account.id}`;

const CASES: Case[] = [
  { name: 'malformed JSON', raw: '{"name": "x",', status: 400, code: 'invalid_json' },
  { name: 'trailing garbage after JSON', raw: '{"name": "x"} trailing', status: 400, code: 'invalid_json' },
  { name: 'single-quoted JSON', raw: "{'name': 'x'}", status: 400, code: 'invalid_json' },
  { name: 'JSON array instead of object', raw: '[{"name": "x"}]', status: 400, code: 'validation_failed' },
  { name: 'JSON string instead of object', raw: '"name"', status: 400, code: 'validation_failed' },
  { name: 'JSON number instead of object', raw: '42', status: 400, code: 'validation_failed' },
  { name: 'JSON null', raw: 'null', status: 400, code: 'validation_failed' },
  { name: 'empty body with JSON content type', raw: '', status: 400 },
  { name: 'wrong type: number for text', body: { name: 123 }, status: 400, code: 'validation_failed' },
  { name: 'wrong type: object for text', body: { name: { $gt: '' } }, status: 400, code: 'validation_failed' },
  { name: 'wrong type: array for text', body: { name: ['a'] }, status: 400, code: 'validation_failed' },
  { name: 'wrong type: string for integer', body: { name: 'x', employees: '10' }, status: 400, code: 'validation_failed' },
  { name: 'integer overflow', body: { name: 'x', employees: 2 ** 31 }, status: 400, code: 'validation_failed' },
  { name: 'float for integer', body: { name: 'x', employees: 1.5 }, status: 400, code: 'validation_failed' },
  { name: 'huge number for decimal', body: { name: 'x', annualRevenue: 1e300 }, status: 400, code: 'validation_failed' },
  { name: 'NaN-ish decimal string', body: { name: 'x', annualRevenue: 'NaN' }, status: 400, code: 'validation_failed' },
  { name: 'huge custom number', raw: '{"name":"x","score":1e400}', status: 400, code: 'validation_failed' },
  { name: 'year 0 date', method: 'POST', path: '/api/v1/opportunities', body: { name: 'x', closeDate: '0000-01-01' }, status: 400 },
  {
    name: 'datetime past year 9999 after its offset',
    path: '/api/v1/activities',
    body: { subject: 'x', dueAt: '9999-12-31T23:59:59-05:00' },
    status: 400,
    code: 'validation_failed',
  },
  { name: 'unknown field', body: { name: 'x', hacker: true }, status: 400, code: 'validation_failed' },
  { name: 'read-only field', body: { name: 'x', createdAt: '2020-01-01T00:00:00Z' }, status: 400, code: 'validation_failed' },
  { name: 'string longer than maxLength', body: { name: 'x'.repeat(256) }, status: 400, code: 'validation_failed' },
  { name: 'body over the body limit', body: { name: 'x', billingCity: 'y'.repeat(100_000) }, status: 413, code: 'payload_too_large' },
  { name: 'NUL character in a value', body: { name: 'a\u0000b' }, status: 400, code: 'validation_failed' },
  { name: 'NUL character in a key', body: { name: 'x', 'na\u0000me': 'y' }, status: 400, code: 'validation_failed' },
  { name: 'lone surrogate (escaped)', raw: '{"name":"\\ud800"}', status: 400, code: 'validation_failed' },
  { name: 'lone low surrogate in a custom text', raw: '{"name":"ok","billingCity":"x\\udc00y"}', status: 400, code: 'validation_failed' },
  { name: 'invalid UTF-8 bytes', raw: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), status: 400, code: 'invalid_json' },
  { name: 'overlong UTF-8 encoding', raw: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), status: 400, code: 'invalid_json' },
  { name: 'UTF-16 body', raw: Buffer.from('{"name":"x"}', 'utf16le'), status: 400, code: 'invalid_json' },
  { name: 'deeply nested object (100k levels)', raw: `{"name":"x","billingCity":${deep(100_000, '{"a":', '}')}}`.slice(0, 60_000), status: 400, code: 'invalid_json' },
  { name: 'deeply nested object, complete', raw: deep(10_000, '{"a":', '}'), status: 400, code: 'invalid_json' },
  { name: 'deeply nested array (30k levels)', raw: deep(30_000, '[', ']'), status: 400, code: 'invalid_json' },
  { name: 'nested 65 levels in a value', raw: `{"name":"x","billingCity":${deep(65, '[', ']')}}`, status: 400, code: 'invalid_json' },
  { name: '__proto__ key', raw: '{"name":"x","__proto__":{"admin":true}}', status: 400, code: 'validation_failed' },
  { name: 'constructor key', raw: '{"name":"x","constructor":{"prototype":{"admin":true}}}', status: 400, code: 'validation_failed' },
  { name: '__proto__ in currency value', path: '/api/v1/opportunities', raw: '{"name":"x","amount":{"__proto__":{}}}', status: 400 },
  { name: 'duplicate keys with a bad last value', raw: '{"name":"x","name":5}', status: 400, code: 'validation_failed' },
  { name: 'wrong Content-Type', raw: 'name=x', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'unsupported_media_type' },
  { name: 'text/plain JSON', raw: '{"name":"x"}', contentType: 'text/plain', status: 415, code: 'unsupported_media_type' },
  { name: 'multipart', raw: '--b\r\n\r\nx\r\n--b--', contentType: 'multipart/form-data; boundary=b', status: 415, code: 'unsupported_media_type' },
  { name: 'JSON in a non-UTF-8 charset', raw: '{"name":"x"}', contentType: 'application/json; charset=latin1', status: 415 },
  { name: 'bad Idempotency-Key', body: { name: 'x' }, headers: { 'idempotency-key': 'k'.repeat(300) }, status: 400 },
  // Updates and deletes.
  { name: 'PATCH with If-Match garbage', method: 'PATCH', path: A, body: { name: 'y' }, headers: { 'if-match': 'xyz' }, status: 400 },
  { name: 'PATCH with If-Match overflow', method: 'PATCH', path: A, body: { name: 'y' }, headers: { 'if-match': '"99999999999999999999"' }, status: 400 },
  { name: 'PATCH with If-Match list', method: 'PATCH', path: A, body: { name: 'y' }, headers: { 'if-match': '"1", "2"' }, status: 400 },
  { name: 'PATCH with a negative If-Match', method: 'PATCH', path: A, body: { name: 'y' }, headers: { 'if-match': '"-1"' }, status: 400 },
  { name: 'PATCH without If-Match', method: 'PATCH', path: A, body: { name: 'y' }, status: 428, code: 'precondition_required' },
  { name: 'PATCH with a JSON array', method: 'PATCH', path: A, raw: '[]', headers: { 'if-match': '"1"' }, status: 400 },
  { name: 'PATCH clearing a required field', method: 'PATCH', path: A, body: { name: null }, headers: { 'if-match': '"1"' }, status: 400 },
  { name: 'PATCH with a SQL-ish field name', method: 'PATCH', path: A, body: { 'name = null --': 'x' }, headers: { 'if-match': '"1"' }, status: 400 },
  { name: 'DELETE with If-Match garbage', method: 'DELETE', path: A, headers: { 'if-match': "1' OR '1'='1" }, status: 400 },
  { name: 'DELETE with a stale If-Match', method: 'DELETE', path: A, headers: { 'if-match': '"7"' }, status: 412, code: 'version_conflict' },
  // Paths.
  { name: 'non-UUID id (GET)', method: 'GET', path: '/api/v1/accounts/123', status: 404, code: 'not_found' },
  { name: 'SQL in the id', method: 'GET', path: `/api/v1/accounts/${encodeURIComponent("1' OR '1'='1")}`, status: 404, code: 'not_found' },
  { name: 'non-UUID id (PATCH)', method: 'PATCH', path: '/api/v1/accounts/abc', body: { name: 'x' }, headers: { 'if-match': '"1"' }, status: 404 },
  { name: 'non-UUID id (DELETE)', method: 'DELETE', path: '/api/v1/accounts/abc', headers: { 'if-match': '"1"' }, status: 404 },
  { name: 'non-UUID id (restore)', method: 'POST', path: '/api/v1/accounts/abc/restore', status: 404 },
  { name: 'non-UUID id (history)', method: 'GET', path: '/api/v1/accounts/abc/history', status: 404 },
  { name: 'UUID with trailing junk', method: 'GET', path: `/api/v1/accounts/${MISSING_ID}x`, status: 404 },
  { name: 'very long id', method: 'GET', path: `/api/v1/accounts/${'a'.repeat(5000)}`, status: 404 },
  { name: 'undecodable URL', method: 'GET', path: '/api/v1/accounts/%E0%A4%A', status: 400 },
  { name: 'unknown object with SQL', method: 'GET', path: `/api/v1/${encodeURIComponent('accounts;DROP TABLE accounts')}`, status: 404 },
  { name: 'path traversal', method: 'GET', path: '/api/v1/accounts/..%2F..%2Fetc%2Fpasswd', status: 404 },
  // Query strings.
  { name: 'unknown filter op', method: 'GET', path: '/api/v1/accounts?filter[name][regex]=.*', status: 400, code: 'validation_failed' },
  { name: 'SQL in a filter field', method: 'GET', path: `/api/v1/accounts?filter[${encodeURIComponent('name) OR 1=1 --')}]=x`, status: 400, code: 'validation_failed' },
  { name: 'SQL in a filter op', method: 'GET', path: `/api/v1/accounts?filter[name][${encodeURIComponent('eq;--')}]=x`, status: 400 },
  { name: 'SQL in sort', method: 'GET', path: `/api/v1/accounts?sort=${encodeURIComponent('name;DROP TABLE accounts')}`, status: 400, code: 'validation_failed' },
  { name: 'SQL in sort direction', method: 'GET', path: `/api/v1/accounts?sort=${encodeURIComponent('name DESC NULLS FIRST')}`, status: 400 },
  { name: 'SQL in fields', method: 'GET', path: `/api/v1/accounts?fields=${encodeURIComponent('name,(SELECT 1)')}`, status: 400 },
  { name: 'NUL in a filter value', method: 'GET', path: '/api/v1/accounts?filter[name][contains]=a%00b', status: 400, code: 'validation_failed' },
  { name: 'NUL in an eq filter', method: 'GET', path: '/api/v1/accounts?filter[name]=a%00b', status: 400, code: 'validation_failed' },
  { name: 'too long a filter value', method: 'GET', path: `/api/v1/accounts?filter[name][contains]=${'x'.repeat(300)}`, status: 400 },
  { name: 'too many in values', method: 'GET', path: `/api/v1/accounts?filter[name][in]=${Array(501).fill('a').join(',')}`, status: 400 },
  { name: 'number overflow in a filter', method: 'GET', path: '/api/v1/accounts?filter[employees][lt]=99999999999', status: 400 },
  { name: 'huge custom number filter', method: 'GET', path: `/api/v1/accounts?filter[score][gt]=1${'0'.repeat(400)}`, status: 400 },
  { name: 'year 0 in a date filter', method: 'GET', path: '/api/v1/opportunities?filter[closeDate][gte]=0000-12-31', status: 400 },
  { name: 'bad cursor', method: 'GET', path: '/api/v1/accounts?cursor=not-a-cursor', status: 400, code: 'validation_failed' },
  { name: 'cursor of non-base64 chars', method: 'GET', path: `/api/v1/accounts?cursor=${encodeURIComponent('{"a":1}')}`, status: 400 },
  { name: 'bad limit', method: 'GET', path: '/api/v1/accounts?limit=1e3', status: 400, code: 'validation_failed' },
  { name: 'negative limit', method: 'GET', path: '/api/v1/accounts?limit=-5', status: 400, code: 'validation_failed' },
  { name: 'limit repeated', method: 'GET', path: '/api/v1/accounts?limit=1&limit=2', status: 400 },
  { name: 'unknown query parameter', method: 'GET', path: '/api/v1/accounts?where=1%3D1', status: 400 },
  { name: '__proto__ query parameter', method: 'GET', path: '/api/v1/accounts?__proto__[x]=1', status: 400 },
  { name: 'search without q', method: 'GET', path: '/api/v1/search?q=', status: 400 },
  { name: 'search with NUL', method: 'GET', path: '/api/v1/search?q=a%00', status: 400 },
  { name: 'search too long', method: 'GET', path: `/api/v1/search?q=${'a'.repeat(201)}`, status: 400 },
  { name: 'lead conversion with garbage', method: 'POST', path: `/api/v1/leads/${MISSING_ID}/convert`, raw: '{"accountId":{"$ne":null}}', status: 400 },
];

describe('hostile input: 4xx problem+json, nothing written', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await tableCounts(t);
    const path = typeof c.path === 'function' ? c.path() : c.path;
    const res = await t.request(c.method ?? 'POST', path ?? '/api/v1/accounts', {
      token: t.org.token,
      raw: c.raw,
      body: c.raw === undefined ? c.body : undefined,
      contentType: c.contentType,
      headers: c.headers,
    });
    expectProblem(res, c.status, c.code);
    expect(await tableCounts(t), c.name).toEqual(before);
  });
});

describe('SQL metacharacters are data', () => {
  const nasty = [
    "Robert'); DROP TABLE accounts;--",
    "' OR '1'='1",
    '"; SELECT pg_sleep(10); --',
    '\\x00\\',
    '$1 $$ $tag$ ::text',
    '%_\\%',
    '😀 Zürich Ωμέγα 中文',
  ];

  it('stores values literally and finds them by exact filters', async () => {
    for (const name of nasty) {
      const rec = await api.create('accounts', { name });
      expect(rec.name).toBe(name);
      expect((await api.get(`/api/v1/accounts/${rec.id}`)).body.name).toBe(name);
      const eq = await api.get(`/api/v1/accounts?filter[name]=${encodeURIComponent(name)}`);
      expect(eq.status, eq.text).toBe(200);
      expect(eq.body.data.map((r: { id: string }) => r.id)).toEqual([rec.id]);
      const contains = await api.get(`/api/v1/accounts?filter[name][contains]=${encodeURIComponent(name)}`);
      expect(contains.body.data.map((r: { id: string }) => r.id)).toEqual([rec.id]);
      const search = await api.get(`/api/v1/search?q=${encodeURIComponent(name)}`);
      expect(search.status, search.text).toBe(200);
      expectNoLeak(search.text);
    }
    // The tables are all still there and the injection-looking filters matched nothing else.
    expect((await t.admin.query('SELECT count(*)::int AS n FROM accounts')).rows[0].n).toBeGreaterThan(nasty.length);
    expect((await api.get(`/api/v1/accounts?filter[name]=${encodeURIComponent("x' OR '1'='1")}`)).body.data).toEqual([]);
  });

  it('LIKE wildcards in contains and startsWith are literal', async () => {
    await api.create('accounts', { name: 'wild_card 100%' });
    await api.create('accounts', { name: 'wildXcard 1000' });
    const names = async (q: string) => ((await api.get(`/api/v1/accounts?${q}`)).body.data as { name: string }[]).map((r) => r.name);
    expect(await names('filter[name][startsWith]=wild_')).toEqual(['wild_card 100%']);
    expect(await names('filter[name][contains]=100%25')).toEqual(['wild_card 100%']);
    expect(await names('filter[name][contains]=%25')).toEqual(expect.arrayContaining(['wild_card 100%']));
    expect(await names('filter[name][contains]=%25')).not.toContain('wildXcard 1000');
  });

  it('search copes with tsquery and regex syntax', async () => {
    // (%ED%A0%80 is a UTF-8-encoded lone surrogate; query strings decode it leniently.)
    expect((await api.get('/api/v1/accounts?filter[name][startsWith]=%ED%A0%80')).status).toBe(200);
    for (const q of ["'", '\\', ':*', '!', '&|!()', 'a:b', '<->', '***', '((((', "a' | 'b", '½', '%', '🙂']) {
      const res = await api.get(`/api/v1/search?q=${encodeURIComponent(q)}`);
      expect(res.status, `${q}: ${res.text}`).toBe(200);
    }
  });
});

describe('forged cursors', () => {
  it('a cursor with values of the wrong type is a 400, not a 500', async () => {
    for (let i = 0; i < 3; i++) await api.create('accounts', { name: `forge ${i}`, employees: i });
    const first = await api.get('/api/v1/accounts?sort=employees&limit=1');
    const decoded = JSON.parse(Buffer.from(first.body.nextCursor, 'base64url').toString('utf8')) as string[];
    const forge = (values: unknown[]) => Buffer.from(JSON.stringify([decoded[0], ...values])).toString('base64url');
    for (const values of [
      ['abc', decoded[2]],
      ['99999999999999999999', decoded[2]],
      [decoded[1], 'not-a-uuid'],
      [decoded[1], null],
      [1, decoded[2]],
      [decoded[1]],
      [decoded[1], decoded[2], 'extra'],
    ]) {
      const res = await api.get(`/api/v1/accounts?sort=employees&limit=1&cursor=${forge(values)}`);
      expectProblem(res, 400, 'validation_failed');
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['cursor']);
    }
    const created = await api.get('/api/v1/accounts?limit=1');
    const c = JSON.parse(Buffer.from(created.body.nextCursor, 'base64url').toString('utf8')) as string[];
    const badTime = Buffer.from(JSON.stringify([c[0], 'the day before', c[2]])).toString('base64url');
    expectProblem(await api.get(`/api/v1/accounts?limit=1&cursor=${badTime}`), 400, 'validation_failed');
  });
});
