import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpResult, startTestApp, type TestApp } from '../support/harness.ts';
import { Api } from './helpers.ts';

/**
 * Property: walking a list through its cursors returns every matching record that was
 * present through the whole walk exactly once, in the requested order, while other
 * records are created and deleted concurrently.
 */

type Rec = Record<string, any>;
type Kind = 'text' | 'decimal' | 'number' | 'date' | 'datetime' | 'boolean';

// Sortable fields over standard columns and custom (jsonb) fields, most of them nullable.
const SORTABLE: Record<string, Kind> = {
  name: 'text',
  stage: 'text',
  currency: 'text',
  amount: 'decimal',
  probability: 'number',
  closeDate: 'date',
  createdAt: 'datetime',
  score: 'number',
  hot: 'boolean',
};

interface Filter {
  query: string;
  test: (r: Rec) => boolean;
}

const FILTERS: fc.Arbitrary<Filter>[] = [
  fc.subarray(['prospecting', 'proposal', 'negotiation', 'closed_won'], { minLength: 1 }).map((s) => ({
    query: `filter[stage][in]=${s.join(',')}`,
    test: (r) => s.includes(r.stage),
  })),
  fc.integer({ min: 0, max: 60 }).map((n) => ({
    query: `filter[amount][gte]=${n}`,
    test: (r) => r.amount !== null && Number(r.amount) >= n,
  })),
  fc.integer({ min: 0, max: 60 }).map((n) => ({
    query: `filter[amount][lt]=${n}`,
    test: (r) => r.amount !== null && Number(r.amount) < n,
  })),
  fc.boolean().map((b) => ({ query: `filter[probability][isNull]=${b}`, test: (r) => (r.probability === null) === b })),
  fc.constantFrom('a', 'b', 'c').map((c) => ({ query: `filter[name][startsWith]=${c}`, test: (r) => r.name.startsWith(c) })),
  fc.constantFrom('a', 'bb', 'c').map((c) => ({ query: `filter[name][contains]=${c}`, test: (r) => r.name.includes(c) })),
  fc.integer({ min: 0, max: 5 }).map((n) => ({ query: `filter[score][gt]=${n}`, test: (r) => r.score !== null && r.score > n })),
  fc.boolean().map((b) => ({ query: `filter[hot]=${b}`, test: (r) => r.hot === b })),
  fc.constant({ query: 'filter[hot][isNull]=true', test: (r: Rec) => r.hot === null }),
  fc.constantFrom('2026-01-02', '2026-01-03').map((d) => ({
    query: `filter[closeDate][lte]=${d}`,
    test: (r) => r.closeDate !== null && r.closeDate <= d,
  })),
];

const sortArb = fc.uniqueArray(
  fc.record({ field: fc.constantFrom(...Object.keys(SORTABLE)), desc: fc.boolean() }),
  { minLength: 1, maxLength: 3, selector: (k) => k.field },
);

/** Random but deliberately clashing values: many ties and NULLs. */
const valuesArb = fc.record({
  name: fc.constantFrom('a', 'ab', 'abb', 'b', 'bb', 'c', 'cab'),
  stage: fc.constantFrom('prospecting', 'proposal', 'negotiation', 'closed_won'),
  currency: fc.option(fc.constantFrom('EUR', 'USD'), { nil: null }),
  amount: fc.option(fc.constantFrom('0', '10', '10.5', '50', '-3'), { nil: null }),
  probability: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
  closeDate: fc.option(fc.constantFrom('2026-01-01', '2026-01-02', '2026-01-03'), { nil: null }),
  score: fc.option(fc.constantFrom(0, 2.5, 5, 7), { nil: null }),
  hot: fc.option(fc.boolean(), { nil: null }),
});

function body(v: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null));
}

function compareValues(kind: Kind, a: unknown, b: unknown): number {
  switch (kind) {
    case 'decimal':
    case 'number':
      return Number(a) - Number(b);
    case 'boolean':
      return Number(a) - Number(b);
    default:
      // The test database uses the C collation: code-unit order for these ASCII values.
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
  }
}

/** PostgreSQL's order as the API promises it: NULLs last either way, ties by id in the first key's direction. */
function comparator(sort: { field: string; desc: boolean }[]) {
  return (x: Rec, y: Rec): number => {
    for (const { field, desc } of sort) {
      const a = x[field];
      const b = y[field];
      if (a === null && b === null) continue;
      if (a === null) return 1;
      if (b === null) return -1;
      const c = compareValues(SORTABLE[field], a, b);
      if (c !== 0) return desc ? -c : c;
    }
    const c = x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
    return sort[0].desc ? -c : c;
  };
}

let t: TestApp;
let api: Api;
const seeds: Rec[] = [];

beforeAll(async () => {
  t = await startTestApp();
  api = new Api(t, t.org.token);
  expect((await api.post('/api/v1/metadata/objects/opportunities/fields', { name: 'score', label: 'Score', type: 'number' })).status).toBe(201);
  expect((await api.post('/api/v1/metadata/objects/opportunities/fields', { name: 'hot', label: 'Hot', type: 'boolean' })).status).toBe(201);
  const initial = fc.sample(valuesArb, { numRuns: 36, seed: 4242 });
  for (const v of initial) seeds.push(await api.create('opportunities', body(v)));
});
afterAll(async () => t?.close());

describe('cursor pagination', () => {
  it('returns every record present through the walk exactly once, in order, despite concurrent inserts and deletes', async () => {
    await fc.assert(
      fc.asyncProperty(
        // A query parameter may be given once (repeating one is a 400), so one filter per key.
        fc.uniqueArray(fc.oneof(...FILTERS), { maxLength: 2, selector: (f) => f.query.split('=')[0] }),
        sortArb,
        fc.integer({ min: 1, max: 8 }),
        fc.infiniteStream(valuesArb),
        async (filters, sort, limit, newcomers) => {
          const sortParam = sort.map((k) => `${k.desc ? '-' : ''}${k.field}`).join(',');
          const query = [...filters.map((f) => f.query), `sort=${sortParam}`, `limit=${limit}`].join('&');
          const matches = (r: Rec) => filters.every((f) => f.test(r));
          const cmp = comparator(sort);

          const live: Rec[] = [];
          const walked: Rec[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const page: Promise<HttpResult> = api.get(`/api/v1/opportunities?${query}${cursor ? `&cursor=${cursor}` : ''}`);
            // Churn alongside the read: one record in, one of the earlier newcomers out.
            const churn: Promise<unknown>[] = [];
            if (pages < 25) {
              churn.push(api.create('opportunities', body(newcomers.next().value)).then((r) => live.push(r)));
              if (live.length > 2) {
                const gone = live.shift() as Rec;
                churn.push(api.delete(`/api/v1/opportunities/${gone.id}`, 1).then((r) => expect(r.status).toBe(204)));
              }
            }
            const [res] = await Promise.all([page, ...churn]);
            expect(res.status, res.text).toBe(200);
            expect(res.body.data.length).toBeLessThanOrEqual(limit);
            walked.push(...res.body.data);
            cursor = res.body.nextCursor;
            pages++;
            expect(pages, 'the walk terminates').toBeLessThan(200);
          } while (cursor);
          for (const r of live) await api.delete(`/api/v1/opportunities/${r.id}`, 1);

          const ids = walked.map((r) => r.id);
          expect(new Set(ids).size, 'no record twice').toBe(ids.length);
          for (const r of walked) expect(matches(r), `${r.id} matches ${query}`).toBe(true);
          for (let i = 1; i < walked.length; i++) {
            expect(cmp(walked[i - 1], walked[i]), `order at ${i} for ${query}`).toBeLessThan(0);
          }
          const seedIds = new Set(seeds.map((s) => s.id));
          const expected = seeds.filter(matches).sort(cmp).map((s) => s.id);
          expect(ids.filter((id) => seedIds.has(id)), query).toEqual(expected);
        },
      ),
      { numRuns: 30 },
    );
  });
});
