import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { insertOrganization } from '../../src/auth/bootstrap.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { ensureAppRole, loadMigrations, migrate } from '../../src/db/migrate.ts';
import { createPool, type Pool, withCredentials } from '../../src/db/pool.ts';
import type { Lifecycle } from '../../src/health/health.routes.ts';
import { type BasaltServer, buildServer } from '../../src/server.ts';
import { freePort } from './global-setup.ts';

/**
 * A Basalt server on a PostgreSQL server of its own (embedded), for tests that stop the
 * database or change server-wide settings without disturbing the other test files.
 */
export interface OwnDatabaseApp {
  baseUrl: string;
  token: string;
  orgId: string;
  /** Superuser pool on the test's own server. */
  admin: pg.Pool;
  pool: Pool;
  /** Stops the postmaster the way an operator or a crash would: SIGINT = fast, SIGQUIT = immediate. */
  stopPostgres(mode: 'fast' | 'immediate'): Promise<void>;
  startPostgres(): Promise<void>;
  close(): Promise<void>;
}

export async function startOwnDatabaseApp(
  name: string,
  opts: { statementTimeoutMs?: number; env?: Record<string, string> } = {},
): Promise<OwnDatabaseApp> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `basalt-${name}-pg-`));
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const start = () => startEmbeddedPostgres({ dataDir, port });
  const startPostgres = async () => {
    await start();
  };
  const adminUrl = (await start()).url;
  const stopPostgres = async (mode: 'fast' | 'immediate') => {
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
  };
  await migrate(adminUrl);
  const password = randomBytes(16).toString('hex');
  await ensureAppRole(adminUrl, 'basalt_app', password);
  const config = loadConfig({ BASALT_LOG_LEVEL: 'silent', BASALT_DRAIN_DELAY_MS: '0', DATABASE_URL: adminUrl, ...opts.env });
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  admin.on('error', () => {}); // its idle connections die with the server
  const client = await admin.connect();
  const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
  let orgId: string;
  try {
    orgId = (await insertOrganization(client, { organizationName: `${name} org`, adminEmail: email, adminName: 'Admin', adminPassword: 'correct horse battery staple' })).orgId;
  } finally {
    client.release();
  }
  const pool = createPool({
    url: withCredentials(adminUrl, 'basalt_app', password),
    max: 10,
    connectTimeoutMs: 1000,
    statementTimeoutMs: opts.statementTimeoutMs ?? 10_000,
    applicationName: `basalt-${name}`,
  });
  const lifecycle: Lifecycle = { draining: false, expectedMigration: Math.max(...(await loadMigrations()).map((m) => m.version)) };
  const server: BasaltServer = await buildServer({ config, pool, lifecycle, logger: false });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery staple' }),
  });
  const token = ((await login.json()) as { accessToken: string }).accessToken;
  return {
    baseUrl,
    token,
    orgId,
    admin,
    pool,
    stopPostgres,
    startPostgres,
    async close() {
      await server.app.close();
      await pool.end().catch(() => {});
      await admin.end().catch(() => {});
      await stopPostgres('fast').catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
