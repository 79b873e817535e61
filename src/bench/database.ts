import { chmod, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../db/embedded.ts';
import { migrate } from '../db/migrate.ts';
import { withDatabase } from '../db/pool.ts';

export interface BenchDatabase {
  /** Superuser URL of the bench database (migrations, seeding, the raw baseline). */
  url: string;
  embedded: boolean;
  serverVersion: string;
  stop(): Promise<void>;
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

/** Server settings a CRM database of this size would have; the embedded defaults are for laptops. */
const TUNING: [string, string][] = [
  ['shared_buffers', '2GB'],
  ['effective_cache_size', '12GB'],
  ['maintenance_work_mem', '1GB'],
  ['work_mem', '32MB'],
  ['max_wal_size', '8GB'],
  ['checkpoint_timeout', '15min'],
  ['random_page_cost', '1.1'],
];

/**
 * The embedded PostgreSQL (data under dataDir, kept between runs) or DATABASE_URL; in
 * both, a database of its own (`basalt_bench`), migrated.
 */
export async function openBenchDatabase(opts: { dataDir: string; fresh: boolean; log: (m: string) => void }): Promise<BenchDatabase> {
  let base = process.env.DATABASE_URL;
  let embedded: EmbeddedDatabase | undefined;
  if (!base) {
    await mkdir(opts.dataDir, { recursive: true });
    await chmod(opts.dataDir, 0o755);
    const port = await freePort();
    embedded = await startEmbeddedPostgres({ dataDir: opts.dataDir, port });
    const admin = new pg.Client({ connectionString: embedded.url });
    await admin.connect();
    let changed = false;
    for (const [name, value] of TUNING) {
      const cur = await admin.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name]);
      await admin.query(`ALTER SYSTEM SET ${name} = '${value}'`);
      // Only shared_buffers needs a restart.
      if (name === 'shared_buffers' && cur.rows[0].setting !== value) changed = true;
    }
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    if (changed) {
      opts.log('restarting the embedded PostgreSQL with bench settings (shared_buffers=2GB)');
      await embedded.stop();
      embedded = await startEmbeddedPostgres({ dataDir: opts.dataDir, port });
    }
    base = embedded.url;
  }
  const root = new pg.Client({ connectionString: base });
  await root.connect();
  const serverVersion = (await root.query('SHOW server_version')).rows[0].server_version as string;
  const exists = (await root.query("SELECT 1 FROM pg_database WHERE datname = 'basalt_bench'")).rowCount === 1;
  if (exists && opts.fresh) await root.query('DROP DATABASE basalt_bench WITH (FORCE)');
  if (!exists || opts.fresh) await root.query('CREATE DATABASE basalt_bench');
  await root.end();
  const url = withDatabase(base, 'basalt_bench');
  await migrate(url, opts.log);
  const stopEmbedded = embedded;
  return {
    url,
    embedded: stopEmbedded !== undefined,
    serverVersion,
    stop: async () => {
      if (stopEmbedded) await stopEmbedded.stop();
    },
  };
}

export function defaultDataDir(): string {
  return path.resolve('bench-results', 'pgdata');
}
