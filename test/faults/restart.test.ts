import { sealAudit } from '../support/harness.ts';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnDatabaseApp, startOwnDatabaseApp } from '../support/own-postgres.ts';
import { checkExactlyOnce, checkVersions, runLoad } from './load.ts';

/**
 * §6.2: the PostgreSQL server itself stops (fast shutdown, then immediate shutdown = crash
 * recovery) and comes back, in the middle of keyed load. This test runs its own embedded
 * PostgreSQL so it can kill it without disturbing the other test files.
 */
const WORKERS = 8;
const REQUESTS = Number(process.env.BASALT_FAULT_REQUESTS ?? 240);

let app: OwnDatabaseApp;
let admin: OwnDatabaseApp['admin'];
let baseUrl: string;
let token: string;
let orgId: string;
const stopPostgres = (mode: 'fast' | 'immediate') => app.stopPostgres(mode);
const startPostgres = () => app.startPostgres();

beforeAll(async () => {
  app = await startOwnDatabaseApp('restart');
  ({ admin, baseUrl, token, orgId } = app);
});

afterAll(async () => app?.close());

describe('fault injection: PostgreSQL stops and restarts mid-load', () => {
  it('fast and immediate shutdowns lose no acknowledged write and apply none twice', async () => {
    const opportunityIds: string[] = [];
    for (let w = 0; w < WORKERS; w++) {
      const res = await fetch(`${baseUrl}/api/v1/opportunities`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `Restart target ${w}` }),
      });
      expect(res.status).toBe(201);
      opportunityIds.push(((await res.json()) as { id: string }).id);
    }

    const progress = { acks: 0 };
    const prefix = `restart-${randomBytes(4).toString('hex')}`;
    const load = runLoad({ baseUrl, token, opportunityIds, requests: REQUESTS, prefix, progress });
    const restarts: string[] = [];
    const until = async (acks: number) => {
      while (progress.acks < acks) await new Promise((r) => setTimeout(r, 10));
    };
    for (const [mode, atAcks] of [['fast', REQUESTS / 4], ['immediate', REQUESTS / 2]] as const) {
      await until(atAcks);
      await stopPostgres(mode);
      const acksWhileDown = progress.acks;
      await new Promise((r) => setTimeout(r, 300)); // the database stays away for a moment
      await startPostgres();
      restarts.push(`${mode}@${acksWhileDown}`);
    }
    const report = await load;

    const once = await checkExactlyOnce(admin, report, prefix);
    const verify = await fetch(`${baseUrl}/api/v1/audit/verify`, { headers: { authorization: `Bearer ${token}` } });
    const chain = (await verify.json()) as { valid: boolean; entries: number };
    await sealAudit(admin);
    const seqs = await admin.query<{ gaps: number }>(
      'SELECT (max(seq) - min(seq) + 1 - count(*))::int AS gaps FROM audit_log WHERE organization_id = $1',
      [orgId],
    );
    console.log(
      `[faults/restart] requests=${report.requests} acks=${report.acks} http_attempts=${report.attempts} retries=${report.retries} ` +
        `client_visible_errors=${report.clientVisibleErrors} unacked=${report.unacked} lost=${once.lost} duplicated=${once.duplicated} ` +
        `applied_without_ack=${once.appliedWithoutAck} restarts=${restarts.join(',')} statuses=${JSON.stringify(report.statuses)} ` +
        `audit_entries=${chain.entries} chain_valid=${chain.valid}`,
    );
    expect(restarts).toHaveLength(2);
    expect(once.lost).toBe(0);
    expect(once.duplicated).toBe(0);
    expect(report.unacked).toBe(0);
    expect(Object.keys(report.statuses).filter((s) => s === 'transport' || (Number(s) >= 500 && s !== '503'))).toEqual([]);
    await checkVersions(admin, report, opportunityIds);
    expect(chain.valid).toBe(true);
    expect(seqs.rows[0].gaps).toBe(0);
  }, 600_000); // how long the kills take depends on the machine's load; the test asserts outcomes, not time
});
