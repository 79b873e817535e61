import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { ensureAppRole, migrate } from '../../src/db/migrate.ts';
import { deriveAppRolePassword, withDatabase } from '../../src/db/pool.ts';

export const TEMPLATE_DB = 'basalt_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    serverVersion: string;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * One PostgreSQL for the whole run (the embedded one, or DATABASE_URL), and one migrated
 * template database that every test file clones: real and fast.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), 'basalt-test-pg-'));
    await chmod(dataDir, 0o755); // the unprivileged postgres user must reach its data directory
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort() });
    adminUrl = embedded.url;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const version = (await admin.query('SHOW server_version')).rows[0].server_version as string;
  const stale = await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'basalt_t\\_%' OR datname = $1", [TEMPLATE_DB]);
  for (const r of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();

  const templateUrl = withDatabase(adminUrl, TEMPLATE_DB);
  await migrate(templateUrl);
  await ensureAppRole(templateUrl, 'basalt_app', deriveAppRolePassword(adminUrl));

  project.provide('adminUrl', adminUrl);
  project.provide('serverVersion', version);
  process.stdout.write(`[basalt tests] PostgreSQL ${version} (${embedded ? 'embedded' : 'DATABASE_URL'})\n`);

  return async () => {
    if (embedded) await embedded.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  };
}
