import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

// Any constant works; it only has to be the same on every node.
const MIGRATION_LOCK = 7_219_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const sql = await readFile(path.join(dir, file), 'utf8');
      return {
        version: Number(file.slice(0, 4)),
        name: file.replace(/\.sql$/, ''),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex'),
      };
    }),
  );
}

/**
 * Applies pending forward-only migrations, each in its own transaction, under a session
 * advisory lock so that several nodes starting at once apply each migration exactly once.
 * A migration that was changed after it was applied stops the start (checksum mismatch).
 */
export async function migrate(adminUrl: string, log: (msg: string) => void = () => {}): Promise<number> {
  const migrations = await loadMigrations();
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'basalt-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const exists = await client.query(`SELECT to_regclass('public.schema_migrations') IS NOT NULL AS ok`);
    const applied = new Map<number, string>();
    if (exists.rows[0].ok) {
      const res = await client.query('SELECT version, checksum FROM schema_migrations');
      for (const r of res.rows) applied.set(r.version, r.checksum);
    }
    let count = 0;
    for (const m of migrations) {
      const seen = applied.get(m.version);
      if (seen !== undefined) {
        if (seen !== m.checksum) throw new Error(`migration ${m.name} was changed after it was applied`);
        continue;
      }
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`);
      }
      log(`applied migration ${m.name}`);
      count++;
    }
    return count;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}

/** True when every migration in the repo is applied (readiness). */
export async function migrationsCurrent(client: { query: pg.Pool['query'] }, expected: number): Promise<boolean> {
  const res = await client.query('SELECT max(version) AS v FROM schema_migrations');
  return Number(res.rows[0].v) >= expected;
}

/**
 * Creates (or updates) the restricted login role for request traffic: member of
 * basalt_app_access, no table ownership, no BYPASSRLS.
 */
export async function ensureAppRole(adminUrl: string, role: string, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'basalt-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const ident = `"${role.replaceAll('"', '""')}"`;
    const pw = `'${password.replaceAll("'", "''")}'`;
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (exists.rowCount === 0) {
      await client.query(`CREATE ROLE ${ident} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD ${pw}`);
    } else {
      await client.query(`ALTER ROLE ${ident} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD ${pw}`);
    }
    await client.query(`GRANT basalt_app_access TO ${ident}`);
    const db = await client.query('SELECT current_database() AS d');
    await client.query(`GRANT CONNECT ON DATABASE "${String(db.rows[0].d).replaceAll('"', '""')}" TO ${ident}`);
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}
