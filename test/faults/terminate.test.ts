import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';
import { checkExactlyOnce, checkVersions, runLoad } from './load.ts';

/**
 * §6.1: the application's database connections are killed mid-transaction, over and over,
 * while a load generator writes with idempotency keys. Nothing acknowledged may be lost,
 * nothing may be applied twice, and the audit chain must still verify.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

const WORKERS = 8;
const REQUESTS = Number(process.env.BASALT_FAULT_REQUESTS ?? 200);

describe('fault injection: pg_terminate_backend on the app role, repeatedly, under load', () => {
  it('loses no acknowledged write and applies none twice', async () => {
    const opportunityIds: string[] = [];
    for (let w = 0; w < WORKERS; w++) {
      const res = await t.request('POST', '/api/v1/opportunities', { token: t.org.token, body: { name: `Fault target ${w}` } });
      expect(res.status).toBe(201);
      opportunityIds.push(res.body.id);
    }

    let running = true;
    let kills = 0;
    let killsInTx = 0;
    let killRounds = 0;
    // Only this test's database: other test files share the PostgreSQL server.
    const killer = (async () => {
      while (running) {
        const res = await t.admin.query<{ n: number; in_tx: number }>(
          `SELECT count(pg_terminate_backend(pid))::int AS n, count(*) FILTER (WHERE xact_start IS NOT NULL)::int AS in_tx
           FROM pg_stat_activity
           WHERE usename = 'basalt_app' AND datname = current_database() AND pid <> pg_backend_pid()`,
        );
        kills += res.rows[0].n;
        killsInTx += res.rows[0].in_tx;
        killRounds++;
        await new Promise((r) => setTimeout(r, 40 + Math.random() * 120));
      }
    })();

    const prefix = `fault-${randomBytes(4).toString('hex')}`;
    let report: Awaited<ReturnType<typeof runLoad>>;
    try {
      report = await runLoad({ baseUrl: t.url, token: t.org.token, opportunityIds, requests: REQUESTS, prefix });
    } finally {
      running = false;
      await killer;
    }

    const once = await checkExactlyOnce(t.admin, report, prefix);
    const verify = await t.request('GET', '/api/v1/audit/verify', { token: t.org.token });
    await sealAudit(t.admin);
    const seqs = await t.admin.query<{ gaps: number; n: number }>(
      `SELECT (max(seq) - min(seq) + 1 - count(*))::int AS gaps, count(*)::int AS n FROM audit_log WHERE organization_id = $1`,
      [t.org.orgId],
    );
    console.log(
      `[faults/terminate] requests=${report.requests} acks=${report.acks} http_attempts=${report.attempts} retries=${report.retries} ` +
        `client_visible_errors=${report.clientVisibleErrors} unacked=${report.unacked} lost=${once.lost} duplicated=${once.duplicated} ` +
        `applied_without_ack=${once.appliedWithoutAck} backends_killed=${kills} killed_mid_transaction=${killsInTx} kill_rounds=${killRounds} ` +
        `statuses=${JSON.stringify(report.statuses)} audit_entries=${seqs.rows[0].n} chain_valid=${verify.body.valid}`,
    );

    expect(kills).toBeGreaterThan(0);
    expect(once.lost).toBe(0);
    expect(once.duplicated).toBe(0);
    expect(report.unacked).toBe(0);
    expect(killsInTx).toBeGreaterThan(0);
    // The server absorbs kills by retrying its transaction; only a write that kept failing
    // until its deadline answers 503 (retried by the client with the same key). Never a 500.
    expect(Object.keys(report.statuses).filter((s) => s === 'transport' || (Number(s) >= 500 && s !== '503'))).toEqual([]);
    await checkVersions(t.admin, report, opportunityIds);
    expect(verify.body).toMatchObject({ valid: true });
    expect(seqs.rows[0].gaps).toBe(0);
  }, 600_000); // how long the kills take depends on the machine's load; the test asserts outcomes, not time
});
