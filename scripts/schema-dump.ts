// Regenerates docs/schema.txt from a freshly migrated database (embedded PostgreSQL, or DATABASE_URL).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/db/migrate.ts';
import { withDatabase } from '../src/db/pool.ts';
import { describeSchema } from '../src/db/schema-describe.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'basalt-schema-'));
await chmod(dir, 0o755);
const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir: dir, port: 54398 });
const base = process.env.DATABASE_URL ?? (embedded as { url: string }).url;
const root = new pg.Client({ connectionString: base });
await root.connect();
await root.query('DROP DATABASE IF EXISTS basalt_schema_dump');
await root.query('CREATE DATABASE basalt_schema_dump');
const url = withDatabase(base, 'basalt_schema_dump');
await migrate(url);
const client = new pg.Client({ connectionString: url });
await client.connect();
await writeFile(new URL('../docs/schema.txt', import.meta.url), await describeSchema(client));
await client.end();
await root.query('DROP DATABASE basalt_schema_dump');
await root.end();
await embedded?.stop();
await rm(dir, { recursive: true, force: true });
process.stdout.write('wrote docs/schema.txt\n');
