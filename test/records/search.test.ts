import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/auth/actor.ts';
import { beginSql } from '../../src/db/session.ts';
import { createPool } from '../../src/db/pool.ts';
import { AppError } from '../../src/http/errors.ts';
import { searchQuery, searchRecords } from '../../src/records/search.ts';
import { STANDARD_OBJECTS } from '../../src/objects/definitions.ts';
import { type OrgFixture, startTestApp, type TestApp, type UserFixture } from '../support/harness.ts';
import { Api } from './helpers.ts';

/**
 * Search under row-level security (docs/decisions/0009-search-under-rls.md): candidates
 * come from a SECURITY DEFINER function over the GIN indexes; visibility is still decided
 * by the policies when they are joined back.
 */
let t: TestApp;
let orgA: OrgFixture;
let orgB: OrgFixture;
let repA1: UserFixture;
let repA2: UserFixture;
let managerA: UserFixture;
let own: Record<string, any>;
const others: string[] = [];
const otherTenant: string[] = [];

const ids = async (token: string, q: string, extra = '') => {
  const res = await new Api(t, token).get(`/api/v1/search?q=${encodeURIComponent(q)}${extra}`);
  expect(res.status, res.text).toBe(200);
  return (res.body.data as { id: string }[]).map((h) => h.id);
};

beforeAll(async () => {
  t = await startTestApp();
  orgA = await t.createOrg('Search Org A');
  orgB = await t.createOrg('Search Org B');
  const team = await t.createTeam(orgA.orgId, 'Search team');
  repA1 = await t.createUser(orgA.orgId, 'rep', { teamId: team });
  repA2 = await t.createUser(orgA.orgId, 'rep', { teamId: team });
  managerA = await t.createUser(orgA.orgId, 'manager', { teamId: team });
  await t.admin.query(`UPDATE organizations SET sharing_default = 'private' WHERE id = $1`, [orgA.orgId]);
  // The rep's own record is a weaker match than 30 records of a colleague and 30 of
  // another tenant, all exact matches: more than the candidates asked for (limit × 4).
  own = await new Api(t, repA1.token).create('accounts', { name: 'Needlework Haystackery Limited' });
  for (let i = 0; i < 30; i++) {
    others.push((await new Api(t, repA2.token).create('accounts', { name: 'Needlework Haystack' })).id);
    otherTenant.push((await new Api(t, orgB.token).create('accounts', { name: 'Needlework Haystack' })).id);
  }
});
afterAll(async () => t?.close());

describe('search under row-level security', () => {
  it('a rep under private sharing never sees others’ records, even the best matches, and is not starved by them', async () => {
    for (const extra of ['', '&limit=1', '&limit=5&objects=accounts']) {
      expect(await ids(repA1.token, 'needlework haystack', extra), extra).toEqual([own.id]);
      expect(await ids(repA1.token, 'Needlework Haystack', extra), extra).toEqual([own.id]);
    }
    // Trigram-only (no full-text match: a typo) finds the own record and nothing else.
    expect(await ids(repA1.token, 'Needlewrk Haystackery Limited')).toEqual([own.id]);
  });

  it('a manager sees the team’s records; the organization admin sees all; another tenant none', async () => {
    const team = await ids(managerA.token, 'needlework haystack', '&limit=100');
    expect([...team].sort()).toEqual([own.id, ...others].sort());
    const all = await ids(orgA.token, 'needlework haystack', '&limit=100');
    expect([...all].sort()).toEqual([own.id, ...others].sort());
    // Exact matches rank first, the weaker own record last.
    expect(others).toContain(all[0]);
    expect(all.at(-1)).toBe(own.id);
    for (const q of ['needlework haystack', 'needlework', 'haystack', 'Needlewrk Haystack']) {
      const a = await ids(orgA.token, q, '&limit=100');
      expect(a.filter((id) => otherTenant.includes(id)), q).toEqual([]);
      const b = await ids(orgB.token, q, '&limit=100');
      expect(b.length, q).toBeGreaterThan(0);
      expect(b.filter((id) => !otherTenant.includes(id)), q).toEqual([]);
    }
  });

  it('keeps prefix matching on every word, trigram on e-mails and the response shape', async () => {
    const api = new Api(t, orgA.token);
    const c = await api.create('contacts', { firstName: 'Wilhelmina', lastName: 'Quarrington', email: 'wquarrington@example.net' });
    // The last word as a prefix; every word as a prefix when whole words find nothing.
    // A typo in a name of several words is still found (trigram, threshold 0.5 for several words).
    // A last word of one letter is still being typed: the words before it find the record.
    for (const q of [
      'wilhelmina quarr',
      'wilh quarr',
      'Wilhelmina Quarrington',
      'Wilhelmina Quarington',
      'quarrington@',
      'wquarrington@example',
      'wilhelmina q',
      'wilhelmina qu',
    ]) {
      expect(await ids(orgA.token, q), q).toContain(c.id);
    }
    const res = await api.get('/api/v1/search?q=wilhelmina');
    expect(res.body.data[0]).toEqual({
      object: 'contacts',
      id: c.id,
      title: 'Wilhelmina Quarrington',
      subtitle: 'wquarrington@example.net',
      score: expect.any(Number),
      updatedAt: c.updatedAt,
    });
    // Deleted records are not found.
    expect((await api.delete(`/api/v1/contacts/${c.id}`, c.version)).status).toBe(204);
    expect(await ids(orgA.token, 'wilhelmina')).not.toContain(c.id);
  });
});

describe('the text searched for', () => {
  const forms = (q: string) => {
    const { params } = searchQuery(STANDARD_OBJECTS, q, orgA.orgId, 20);
    return { prefix: params[2], strict: params[3] };
  };
  it('never makes one character a prefix: a trailing letter is left out, a lone one is a whole word', () => {
    expect(forms('Jan Smi')).toEqual({ prefix: "'jan':* & 'smi':*", strict: "'jan' & 'smi':*" });
    expect(forms('jan s')).toEqual({ prefix: "'jan':*", strict: "'jan'" });
    expect(forms('c')).toEqual({ prefix: "'c'", strict: "'c'" });
    expect(forms('a b')).toEqual({ prefix: "'a'", strict: "'a'" });
    expect(forms('j smith')).toEqual({ prefix: "'j' & 'smith':*", strict: "'j' & 'smith':*" });
    expect(forms('ö')).toEqual({ prefix: "'ö'", strict: "'ö'" });
    expect(forms('--')).toEqual({ prefix: null, strict: null });
  });
});

describe('basalt_search_candidates (the definer function)', () => {
  const asApp = async <T>(actor: Pick<Actor, 'orgId' | 'userId' | 'teamId' | 'role'>, sql: string, params: unknown[]): Promise<T[]> => {
    const client = await t.pool.connect();
    try {
      await client.query(beginSql(actor, true));
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };
  const candidates = (actor: Pick<Actor, 'orgId' | 'userId' | 'teamId' | 'role'>, object = 'accounts') =>
    asApp<{ id: string }>(actor, `SELECT id FROM basalt_search_candidates($1, 'needlework haystack', $2, $3, 200, 100)`, [
      object,
      "'needlework':* & 'haystack':*",
      "'needlework' & 'haystack':*",
    ]).then((rows) => rows.map((r) => r.id));

  it('answers for the session’s tenant only, within the caller’s read scope', async () => {
    const admin = { orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' as const };
    expect((await candidates(admin)).sort()).toEqual([own.id, ...others].sort());
    expect(await candidates({ orgId: orgA.orgId, userId: repA1.id, teamId: repA1.teamId, role: 'rep' })).toEqual([own.id]);
    expect((await candidates({ orgId: orgB.orgId, userId: orgB.adminId, teamId: null, role: 'admin' })).sort()).toEqual(
      [...otherTenant].sort(),
    );
    // No tenant in the session: nothing.
    const client = await t.pool.connect();
    try {
      const res = await client.query(`SELECT count(*)::int AS n FROM basalt_search_candidates('accounts', 'needlework', $1, $1, 200, 100)`, [
        "'needlework':*",
      ]);
      expect(res.rows[0].n).toBe(0);
    } finally {
      client.release();
    }
  });

  it('finds whole words first and still adds prefix matches when whole words are too few (migration 0015)', async () => {
    const api = new Api(t, orgA.token);
    const whole: string[] = [];
    for (let i = 0; i < 4; i++) whole.push((await api.create('contacts', { firstName: 'Zephyrine', lastName: 'Quillfeather' })).id);
    const prefixOnly = (await api.create('contacts', { firstName: 'Zephyrine', lastName: 'Quillfeathering' })).id;
    const admin = { orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' as const };
    const found = (limit: number) =>
      asApp<{ id: string }>(admin, `SELECT id FROM basalt_search_candidates('contacts', 'zephyrine quillfeather', $1, $2, 200, $3)`, [
        "'zephyrine':* & 'quillfeather':*",
        "'zephyrine' & 'quillfeather':*",
        limit,
      ]).then((rows) => rows.map((r) => r.id).sort());
    // Four whole-word hits are enough for three candidates, and they are the best ones (the
    // cost saved, not running the prefix form, shows in the benchmark, not here).
    expect((await found(3)).every((id) => whole.includes(id))).toBe(true);
    expect(await found(3)).toHaveLength(3);
    // Not enough for ten: the prefix form adds the one that only starts with the last word.
    expect(await found(10)).toEqual([...whole, prefixOnly].sort());
    // Still typing the last word: no whole-word hit, the prefix form finds all five.
    const typing = await asApp<{ id: string }>(admin, `SELECT id FROM basalt_search_candidates('contacts', 'zephyrine quillfea', $1, $2, 200, 10)`, [
      "'zephyrine':* & 'quillfea':*",
      "'zephyrine' & 'quillfea':*",
    ]);
    expect(typing.map((r) => r.id).sort()).toEqual([...whole, prefixOnly].sort());
  });

  it('knows from the statistics which prefixes start frequent lexemes (the planner guesses for the others)', async () => {
    const api = new Api(t, orgA.token);
    for (let i = 0; i < 40; i++) await api.create('contacts', { firstName: `Person ${i}`, lastName: 'Frequentia' });
    await t.admin.query('ANALYZE contacts');
    const frequent = async (q: string) =>
      (await t.admin.query(`SELECT basalt_search_prefixes_frequent('contacts', to_tsquery('simple', $1)) AS f`, [q])).rows[0].f;
    expect(await frequent("'frequen':*")).toBe(true);
    expect(await frequent("'person' & 'frequen':*")).toBe(true);
    expect(await frequent("'zzqxv':*")).toBe(false);
    expect(await frequent("'frequen':* & 'zzqxv':*")).toBe(false);
    expect(await frequent("'zzqxv'")).toBe(true); // no prefix: nothing to guess
    // The application role cannot call it; the definer function does.
    await expect(asApp({ orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' }, `SELECT basalt_search_prefixes_frequent('contacts', 'a:*')`, [])).rejects.toThrow(
      /permission denied/,
    );
  });

  it('accepts only the standard objects and returns ids and scores, never record data', async () => {
    const admin = { orgId: orgA.orgId, userId: orgA.adminId, teamId: null, role: 'admin' as const };
    await expect(candidates(admin, 'users')).rejects.toThrow(/unknown object/);
    await expect(candidates(admin, 'accounts t; --')).rejects.toThrow(/unknown object/);
    const cols = await t.admin.query(
      `SELECT p.proretset, p.prosecdef, p.proconfig, pg_get_function_result(p.oid) AS result
         FROM pg_proc p WHERE p.proname = 'basalt_search_candidates'`,
    );
    expect(cols.rows).toEqual([{ proretset: true, prosecdef: true, proconfig: ['search_path=public, pg_temp'], result: 'TABLE(id uuid, score double precision)' }]);
  });
});

describe('statement timeout', () => {
  it('is a 503 with Retry-After, not a 500', async () => {
    // A real timeout: the search waits for a lock another session holds on a table it reads,
    // on a pool whose statements may run 200 ms.
    const pool = createPool({ url: t.appUrl, max: 1, connectTimeoutMs: 5000, statementTimeoutMs: 200, applicationName: 'basalt-search-timeout' });
    const blocker = await t.admin.connect();
    try {
      await blocker.query('BEGIN; LOCK TABLE cases IN ACCESS EXCLUSIVE MODE');
      const actor: Actor = { kind: 'user', orgId: orgA.orgId, userId: orgA.adminId, role: 'admin', teamId: null, apiKeyId: null };
      const err = await searchRecords(pool, actor, { q: 'anything' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ status: 503, code: 'unavailable', headers: { 'Retry-After': '1' } });
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
      await pool.end();
    }
  });
});
