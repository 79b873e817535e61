import { describe, expect, it } from 'vitest';
import { type OrgFixture, startTestApp } from '../support/harness.ts';

/**
 * Measurement, not a test of speed (nothing here asserts time): what the per-organization
 * audit chain costs when many writers share one organization. Creates per second with
 * 1 writer, 8 writers in one organization (they queue on the org's chain head), and 8
 * writers each in its own organization (no shared head). Run with
 *   BASALT_BENCH=1 npx vitest run test/audit/chain-throughput
 * Results and reading: docs/decisions/0005-audit-chain.md.
 */
const WRITES = Number(process.env.BASALT_BENCH_WRITES ?? 800);

describe.runIf(process.env.BASALT_BENCH)('audit chain throughput', () => {
  it('creates/s: 1 writer, 8 writers in one org, 8 writers in 8 orgs', async () => {
    const t = await startTestApp();
    try {
      const settings = await t.admin.query(`SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'server_version')`);
      const orgs: OrgFixture[] = [t.org];
      for (let i = 1; i < 8; i++) orgs.push(await t.createOrg(`Bench ${i}`));

      async function run(label: string, writers: number, orgOf: (w: number) => OrgFixture): Promise<number> {
        let next = 0;
        const worker = async (w: number) => {
          const org = orgOf(w);
          for (;;) {
            const i = next++;
            if (i >= WRITES) return;
            const res = await t.request('POST', '/api/v1/accounts', { token: org.token, body: { name: `${label} ${i}` } });
            expect(res.status).toBe(201);
          }
        };
        // Warm-up (connections, JIT), not counted.
        await Promise.all(Array.from({ length: writers }, (_, w) => t.request('POST', '/api/v1/accounts', { token: orgOf(w).token, body: { name: 'warm' } })));
        const start = process.hrtime.bigint();
        await Promise.all(Array.from({ length: writers }, (_, w) => worker(w)));
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        return WRITES / seconds;
      }

      const rows: [string, number][] = [];
      for (let round = 0; round < 2; round++) {
        rows.push([`1 writer, 1 org (round ${round + 1})`, await run('one', 1, () => orgs[0])]);
        rows.push([`8 writers, 1 org (round ${round + 1})`, await run('shared', 8, () => orgs[0])]);
        rows.push([`8 writers, 8 orgs (round ${round + 1})`, await run('spread', 8, (w) => orgs[w])]);
      }
      console.log(`[bench audit-chain] ${WRITES} creates per run; ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(' ')}`);
      for (const [label, rate] of rows) console.log(`[bench audit-chain] ${label.padEnd(30)} ${rate.toFixed(0)} creates/s`);
      for (const org of orgs) {
        const v = await t.request('GET', '/api/v1/audit/verify', { token: org.token });
        expect(v.body.valid).toBe(true);
      }
    } finally {
      await t.close();
    }
  }, 600_000);

  it('database only: commits/s of a head-row update, 8 sessions on one row vs on 8 rows', async () => {
    // The chain head is locked from the ledger step through COMMIT (its WAL flush), so one
    // organization's writes are bounded by this, whatever the HTTP layer costs.
    const t = await startTestApp();
    const pg = await import('pg');
    const sessions = await Promise.all(Array.from({ length: 8 }, async () => {
      const c = new pg.default.Client({ connectionString: t.adminUrl });
      await c.connect();
      return c;
    }));
    try {
      await t.admin.query('CREATE TABLE bench_head (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO bench_head SELECT g, 0 FROM generate_series(0, 7) g');
      const N = 2000;
      const run = async (writers: number, rowOf: (w: number) => number) => {
        let next = 0;
        const start = process.hrtime.bigint();
        await Promise.all(Array.from({ length: writers }, async (_, w) => {
          const c = sessions[w];
          while (next++ < N) {
            await c.query('BEGIN');
            await c.query('UPDATE bench_head SET n = n + 1 WHERE id = $1', [rowOf(w)]);
            await c.query('COMMIT');
          }
        }));
        return N / (Number(process.hrtime.bigint() - start) / 1e9);
      };
      const one = await run(1, () => 0);
      const shared = await run(8, () => 0);
      const spread = await run(8, (w) => w);
      console.log(`[bench audit-chain] db only: 1 session ${one.toFixed(0)} commits/s; 8 sessions, one head row ${shared.toFixed(0)}/s; 8 sessions, 8 head rows ${spread.toFixed(0)}/s`);
    } finally {
      await Promise.all(sessions.map((c) => c.end()));
      await t.close();
    }
  }, 600_000);
});
