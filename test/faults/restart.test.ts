import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertOrganization } from '../../src/auth/bootstrap.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { ensureAppRole, loadMigrations, migrate } from '../../src/db/migrate.ts';
import { createPool, type Pool, withCredentials } from '../../src/db/pool.ts';
import type { Lifecycle } from '../../src/health/health.routes.ts';
import { type BasaltServer, buildServer } from '../../src/server.ts';
import { checkExactlyOnce, checkVersions, runLoad } from './load.ts';

/**
 * §6.2: the PostgreSQL server itself stops (fast shutdown, then immediate shutdown = crash
 * recovery) and comes back, in the middle of keyed load. This test runs its own embedded
 * PostgreSQL so it can kill it without disturbing the other test files.
 */
const WORKERS = 8;
const REQUESTS = Number(process.env.BASALT_FAULT_REQUESTS ?? 240);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

let dataDir: string;
let port: number;
let adminUrl: string;
let pool: Pool;
let admin: pg.Pool;
let server: BasaltServer;
let baseUrl: string;
let token: string;
let orgId: string;

/** Stops the postmaster the way an operator or a crash would: SIGINT = fast, SIGQUIT = immediate. */
async function stopPostgres(mode: 'fast' | 'immediate'): Promise<void> {
  const pid = Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return; // gone
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const startPostgres = () => startEmbeddedPostgres({ dataDir, port });

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-restart-pg-'));
  await chmod(dataDir, 0o755);
  port = await freePort();
  adminUrl = (await startPostgres()).url;
  await migrate(adminUrl);
  const password = randomBytes(16).toString('hex');
  await ensureAppRole(adminUrl, 'basalt_app', password);
  const config = loadConfig({ BASALT_LOG_LEVEL: 'silent', BASALT_DRAIN_DELAY_MS: '0', DATABASE_URL: adminUrl });
  admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  admin.on('error', () => {}); // its idle connections die with the server
  const client = await admin.connect();
  const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
  try {
    orgId = (await insertOrganization(client, { organizationName: 'Restart Org', adminEmail: email, adminName: 'Admin', adminPassword: 'correct horse battery staple' })).orgId;
  } finally {
    client.release();
  }
  pool = createPool({ url: withCredentials(adminUrl, 'basalt_app', password), max: 10, connectTimeoutMs: 1000, statementTimeoutMs: 10_000, applicationName: 'basalt-restart' });
  const lifecycle: Lifecycle = { draining: false, expectedMigration: Math.max(...(await loadMigrations()).map((m) => m.version)) };
  server = await buildServer({ config, pool, lifecycle, logger: false });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery staple' }),
  });
  token = ((await login.json()) as { accessToken: string }).accessToken;
});

afterAll(async () => {
  await server?.app.close();
  await pool?.end().catch(() => {});
  await admin?.end().catch(() => {});
  if (dataDir) {
    await stopPostgres('fast').catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  }
});

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
  }, 240_000);
});
