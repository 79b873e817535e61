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
export async function openBenchDatabase(opts: {
  dataDir: string;
  fresh: boolean;
  log: (m: string) => void;
  /** Server settings on top of TUNING for this run (embedded only; a run without them goes back to TUNING). */
  settings?: [string, string][];
}): Promise<BenchDatabase> {
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
    await admin.query('ALTER SYSTEM RESET ALL');
    for (const [name, value] of [...TUNING, ...(opts.settings ?? [])]) {
      if (!/^[a-z_]+$/.test(name)) throw new Error(`not a PostgreSQL setting name: ${name}`);
      const cur = await admin.query<{ setting: string }>('SELECT current_setting($1) AS setting', [name]);
      await admin.query(`ALTER SYSTEM SET ${name} = '${value.replaceAll("'", "''")}'`);
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
  } else if (opts.settings?.length) {
    opts.log('--pg applies to the embedded PostgreSQL only; DATABASE_URL keeps its own settings');
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

/**
 * Before anything is timed: vacuum (and analyze) every table an earlier run left dead rows
 * or unanalysed changes in, then checkpoint. Otherwise the latency workloads measure the
 * aftermath of the last run's import (an autovacuum of millions of rows, cancelled at every
 * stop and started again at every start) and of the seed's WAL (a checkpoint due mid-run).
 */
export async function settleDatabase(url: string): Promise<{ seconds: number; vacuumed: string[]; checkpoint: string }> {
  const t0 = Date.now();
  const client = new pg.Client({ connectionString: url, application_name: 'basalt-bench-settle' });
  await client.connect();
  try {
    const stale = await client.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables
       WHERE n_dead_tup > 0 OR n_mod_since_analyze > 0 OR (n_live_tup > 0 AND last_analyze IS NULL AND last_autoanalyze IS NULL)
       ORDER BY 1`,
    );
    for (const { t } of stale.rows) await client.query(`VACUUM (ANALYZE) ${t}`);
    let checkpoint = 'done';
    // Needs superuser or pg_checkpoint; a DATABASE_URL may have neither.
    await client.query('CHECKPOINT').catch((err: Error) => (checkpoint = `skipped (${err.message})`));
    return { seconds: (Date.now() - t0) / 1000, vacuumed: stale.rows.map((r) => r.t), checkpoint };
  } finally {
    await client.end();
  }
}

/** WAL written and checkpoints the server started, from a point on (a bulk step's cost the timings alone hide). */
export interface WalActivity {
  walMb: number;
  checkpointsTimed: number;
  checkpointsRequested: number;
}

/**
 * Starts measuring; the returned function reports what happened since. Checkpoint counters
 * live in pg_stat_checkpointer from PostgreSQL 17, in pg_stat_bgwriter before.
 */
export async function measureWal(pool: pg.Pool): Promise<() => Promise<WalActivity>> {
  const version = Number((await pool.query('SHOW server_version_num')).rows[0].server_version_num);
  const counters =
    version >= 170000
      ? 'SELECT num_timed AS timed, num_requested AS requested FROM pg_stat_checkpointer'
      : 'SELECT checkpoints_timed AS timed, checkpoints_req AS requested FROM pg_stat_bgwriter';
  const snapshot = async (since: string | null) =>
    (
      await pool.query<{ lsn: string; bytes: string | null; timed: string; requested: string }>(
        `SELECT pg_current_wal_lsn()::text AS lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS bytes, c.timed, c.requested FROM (${counters}) c`,
        [since],
      )
    ).rows[0];
  const before = await snapshot(null);
  return async () => {
    const after = await snapshot(before.lsn);
    return {
      walMb: Math.round(Number(after.bytes) / 1024 / 1024),
      checkpointsTimed: Number(after.timed) - Number(before.timed),
      checkpointsRequested: Number(after.requested) - Number(before.requested),
    };
  };
}

export function formatWal(w: WalActivity, rows: number): string {
  return `WAL ${w.walMb.toLocaleString('en')} MB (${Math.round((w.walMb * 1024 * 1024) / rows).toLocaleString('en')} bytes/row), checkpoints started ${w.checkpointsTimed} timed + ${w.checkpointsRequested} requested`;
}
