import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { v7 as uuidv7 } from 'uuid';
import { insertOrganization } from '../auth/bootstrap.ts';
import { columnOf, STANDARD_OBJECTS } from '../objects/definitions.ts';

/**
 * Scale data, fast: rows are generated here and streamed with COPY into unlogged staging
 * tables, then moved into the object tables by one INSERT … SELECT each (which computes
 * the search vectors exactly as the application declares them), with the secondary
 * indexes dropped during the load and rebuilt after it, as pg_restore does.
 */

export const BASE_COUNTS = {
  accounts: 200_000,
  contacts: 1_000_000,
  opportunities: 300_000,
  leads: 100_000,
  cases: 100_000,
  activities: 500_000,
} as const;
export type SeededObject = keyof typeof BASE_COUNTS;

export const BENCH_PASSWORD = 'bench-password-not-secret';
export const OWNERS_PER_ORG = 8;

export interface SeededOrg {
  index: number;
  orgId: string;
  adminId: string;
  adminEmail: string;
  userIds: string[];
}

export interface SeedResult {
  orgs: SeededOrg[];
  counts: Record<SeededObject, number>;
  seconds: number;
}

const FIRST = ['anna', 'ben', 'carla', 'david', 'eva', 'felix', 'greta', 'hugo', 'ines', 'jan', 'karl', 'lena', 'marta', 'nils', 'olga', 'paul', 'quinn', 'rosa', 'sven', 'tara', 'ugo', 'vera', 'wim', 'xena', 'yann', 'zoe', 'amir', 'bea', 'chen', 'dara', 'emil', 'fatima', 'goran', 'hana', 'ivan', 'jules', 'kofi', 'lucia', 'mei', 'noor'];
const LAST = ['smith', 'jones', 'muller', 'garcia', 'rossi', 'dubois', 'novak', 'kowalski', 'jensen', 'silva', 'tanaka', 'kim', 'nguyen', 'patel', 'okafor', 'larsen', 'weber', 'fischer', 'moreau', 'romano', 'costa', 'horvat', 'popescu', 'ivanova', 'berg', 'lindqvist', 'oconnor', 'murphy', 'walsh', 'schmidt', 'wagner', 'becker', 'hoffmann', 'schulz', 'koch', 'richter', 'klein', 'wolf', 'neumann', 'schwarz', 'zimmermann', 'braun', 'hartmann', 'lange', 'werner', 'krause', 'lehmann', 'kaiser', 'fuchs', 'peters'];
const WORDS = ['global', 'north', 'blue', 'river', 'summit', 'pioneer', 'vertex', 'harbor', 'nova', 'atlas', 'cedar', 'delta', 'ember', 'falcon', 'granite', 'horizon'];
const SUFFIX = ['gmbh', 'inc', 'ltd', 'sa', 'bv', 'ag', 'llc', 'oy'];
const TITLES = ['ceo', 'cto', 'buyer', 'engineer', 'manager', 'director', 'analyst', 'consultant'];
const INDUSTRIES = ['banking', 'retail', 'technology', 'energy', 'healthcare', 'manufacturing'];
const STAGES = ['prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won', 'closed_lost'];
const LEAD_STATUS = ['new', 'working', 'qualified', 'unqualified'];
const SOURCES = ['web', 'referral', 'partner', 'event', 'cold_call'];
const CASE_STATUS = ['new', 'open', 'pending', 'resolved', 'closed'];
const PRIORITIES = ['low', 'medium', 'high', 'urgent'];
const ACTIVITY_TYPES = ['task', 'call', 'meeting', 'note', 'email'];

/** Deterministic "random" choices: the same index gives the same record in every run. */
const pick = <T>(list: readonly T[], i: number, salt: number): T => list[Math.abs((i * 2654435761 + salt * 40503) >>> 0) % list.length];

/** The generated identity of contact i of an organization (the import benchmark updates some by email). */
export function contactIdentity(org: number, i: number): { first: string; last: string; email: string } {
  const first = pick(FIRST, i, 1);
  const last = pick(LAST, i, 2);
  return { first, last, email: `${first}.${last}.${i}@org${org}.example` };
}

const THREE_YEARS_MS = 3 * 365 * 24 * 3600 * 1000;

/** Lines of a file (COPY data, CSV), in chunks of ~256 kB. */
export function* chunked(lines: Iterable<string>, header = ''): Generator<Buffer> {
  let chunk = header;
  for (const line of lines) {
    chunk += line;
    if (chunk.length > 256 * 1024) {
      yield Buffer.from(chunk);
      chunk = '';
    }
  }
  if (chunk) yield Buffer.from(chunk);
}

export function copyValue(v: string | number | null): string {
  if (v === null) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] as string) : s;
}

interface TableSpec {
  object: SeededObject;
  columns: string[];
  row: (org: SeededOrg, i: number, ctx: { accountIds: string[][]; created: string; id: string; owner: string }) => (string | number | null)[];
}

const COMMON = ['id', 'organization_id', 'owner_id', 'created_at', 'updated_at', 'created_by', 'updated_by'];

const SPECS: TableSpec[] = [
  {
    object: 'accounts',
    columns: ['name', 'domain', 'industry', 'employees', 'annual_revenue', 'phone', 'website', 'billing_city', 'billing_country'],
    row: (o, i) => [
      `${pick(WORDS, i, 3)} ${pick(WORDS, i, 4)} ${pick(SUFFIX, i, 5)} ${i}`,
      `acct${i}.org${o.index}.example`,
      pick(INDUSTRIES, i, 6),
      10 + (i % 5000),
      `${(i % 100_000) * 1000}.00`,
      `+1 555 ${String(i % 10_000).padStart(4, '0')}`,
      `https://acct${i}.org${o.index}.example`,
      pick(['berlin', 'paris', 'madrid', 'oslo', 'lisbon', 'vienna'], i, 7),
      pick(['de', 'fr', 'es', 'no', 'pt', 'at'], i, 7),
    ],
  },
  {
    object: 'contacts',
    columns: ['first_name', 'last_name', 'email', 'phone', 'title', 'department', 'account_id'],
    row: (o, i, c) => {
      const p = contactIdentity(o.index, i);
      const accounts = c.accountIds[o.index];
      return [p.first, p.last, p.email, `+1 555 ${String(i % 10_000).padStart(4, '0')}`, pick(TITLES, i, 8), pick(['sales', 'it', 'finance', 'ops'], i, 9), accounts.length ? pick(accounts, i, 10) : null];
    },
  },
  {
    object: 'opportunities',
    columns: ['name', 'account_id', 'amount', 'currency', 'stage', 'probability', 'close_date', 'lead_source'],
    row: (o, i, c) => {
      const accounts = c.accountIds[o.index];
      const day = new Date(Date.UTC(2025, 0, 1) + (i % 730) * 86_400_000).toISOString().slice(0, 10);
      return [`${pick(WORDS, i, 11)} deal ${i}`, accounts.length ? pick(accounts, i, 12) : null, `${(i * 37) % 250_000}.00`, i % 10 === 0 ? 'USD' : 'EUR', pick(STAGES, i, 13), (i * 7) % 101, day, pick(SOURCES, i, 14)];
    },
  },
  {
    object: 'leads',
    columns: ['first_name', 'last_name', 'email', 'company', 'status', 'source'],
    row: (o, i) => {
      const first = pick(FIRST, i, 15);
      const last = pick(LAST, i, 16);
      return [first, last, `${first}.${last}.lead${i}@org${o.index}.example`, `${pick(WORDS, i, 17)} ${pick(SUFFIX, i, 18)}`, pick(LEAD_STATUS, i, 19), pick(SOURCES, i, 20)];
    },
  },
  {
    object: 'cases',
    columns: ['subject', 'description', 'status', 'priority', 'origin', 'account_id'],
    row: (o, i, c) => {
      const accounts = c.accountIds[o.index];
      return [`${pick(['login', 'invoice', 'export', 'sync', 'report'], i, 21)} problem ${i}`, 'Customer reports an issue.', pick(CASE_STATUS, i, 22), pick(PRIORITIES, i, 23), pick(['email', 'phone', 'web'], i, 24), accounts.length ? pick(accounts, i, 25) : null];
    },
  },
  {
    object: 'activities',
    columns: ['type', 'subject', 'due_at', 'related_object', 'related_id'],
    row: (o, i, c) => {
      const accounts = c.accountIds[o.index];
      const related = accounts.length ? pick(accounts, i, 26) : null;
      return [pick(ACTIVITY_TYPES, i, 27), `${pick(['call', 'follow up', 'demo', 'send quote'], i, 28)} ${i}`, c.created, related ? 'accounts' : null, related];
    },
  },
];

/** setweight(to_tsvector(...)) per weight, over the staged columns, from the object declaration. */
export function searchVectorSql(object: SeededObject, staged: Set<string>): string {
  const def = STANDARD_OBJECTS.find((o) => o.name === object);
  if (!def) throw new Error(`no object ${object}`);
  return (['A', 'B', 'C', 'D'] as const)
    .map((w) => {
      const cols = def.fields.filter((f) => f.searchWeight === w && staged.has(columnOf(f))).map((f) => `s.${columnOf(f)}::text`);
      return `setweight(to_tsvector('simple', ${cols.length ? `concat_ws(' ', ${cols.join(', ')})` : "''"}), '${w}')`;
    })
    .join(' || ');
}

export async function seed(url: string, scale: number, log: (m: string) => void): Promise<SeedResult> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: url, application_name: 'basalt-bench-seed' });
  await client.connect();
  try {
    const orgs: SeededOrg[] = [];
    for (const index of [0, 1]) {
      const adminEmail = `admin@org${index}.bench.example`;
      await client.query('BEGIN');
      const ids = await insertOrganization(client, { organizationName: `Bench Org ${index}`, adminEmail, adminName: 'Bench Admin', adminPassword: BENCH_PASSWORD });
      const hash = (await client.query('SELECT password_hash FROM users WHERE id = $1', [ids.userId])).rows[0].password_hash as string;
      const userIds = [ids.userId];
      for (let u = 1; u < OWNERS_PER_ORG; u++) {
        const id = uuidv7();
        await client.query("INSERT INTO users (organization_id, id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, 'rep', $5)", [
          ids.orgId,
          id,
          `rep${u}@org${index}.bench.example`,
          `Rep ${u}`,
          hash,
        ]);
        userIds.push(id);
      }
      await client.query('COMMIT');
      orgs.push({ index, orgId: ids.orgId, adminId: ids.userId, adminEmail, userIds });
    }

    const tables = SPECS.map((s) => s.object);
    const indexes = await client.query<{ indexname: string; indexdef: string }>(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
       WHERE i.schemaname = 'public' AND i.tablename = ANY($1) AND i.indexname NOT LIKE '%\\_pkey'`,
      [tables],
    );
    for (const ix of indexes.rows) await client.query(`DROP INDEX ${ix.indexname}`);
    // Generated data is consistent by construction: skip per-row foreign-key triggers.
    await client.query("SET session_replication_role = 'replica'");

    const counts = {} as Record<SeededObject, number>;
    const accountIds: string[][] = [[], []];
    const base = Date.now() - THREE_YEARS_MS;
    for (const spec of SPECS) {
      const t0 = Date.now();
      const perOrg = Math.max(1, Math.round((BASE_COUNTS[spec.object] * scale) / 2));
      const columns = [...COMMON, ...spec.columns];
      await client.query(`DROP TABLE IF EXISTS seed_${spec.object}`);
      await client.query(`CREATE UNLOGGED TABLE seed_${spec.object} AS SELECT ${columns.join(', ')} FROM ${spec.object} WITH NO DATA`);
      const keep = spec.object === 'accounts';
      function* rows(): Generator<string> {
        for (const org of orgs) {
          for (let i = 0; i < perOrg; i++) {
            const ms = base + Math.floor((i / perOrg) * THREE_YEARS_MS);
            const id = uuidv7({ msecs: ms });
            if (keep) accountIds[org.index].push(id);
            const created = new Date(ms).toISOString();
            const owner = org.userIds[i % org.userIds.length];
            const values = [id, org.orgId, owner, created, created, owner, owner, ...spec.row(org, i, { accountIds, created, id, owner })];
            yield `${values.map(copyValue).join('\t')}\n`;
          }
        }
      }
      await pipeline(Readable.from(chunked(rows())), client.query(copyFrom(`COPY seed_${spec.object} (${columns.join(', ')}) FROM STDIN`)));
      const staged = new Set(columns);
      await client.query(
        `INSERT INTO ${spec.object} (${columns.join(', ')}, search_vector)
         SELECT ${columns.map((c) => `s.${c}`).join(', ')}, ${searchVectorSql(spec.object, staged)} FROM seed_${spec.object} s`,
      );
      await client.query(`DROP TABLE seed_${spec.object}`);
      counts[spec.object] = perOrg * orgs.length;
      log(`seeded ${counts[spec.object].toLocaleString('en')} ${spec.object} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await client.query("SET session_replication_role = 'origin'");
    const t1 = Date.now();
    for (const ix of indexes.rows) await client.query(ix.indexdef);
    log(`rebuilt ${indexes.rowCount} indexes in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    for (const t of tables) await client.query(`VACUUM (ANALYZE) ${t}`);
    await client.query('CREATE TABLE IF NOT EXISTS bench_meta (scale float8 NOT NULL, orgs jsonb NOT NULL, counts jsonb NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())');
    await client.query('INSERT INTO bench_meta (scale, orgs, counts) VALUES ($1, $2, $3)', [scale, JSON.stringify(orgs.map(({ userIds, ...o }) => ({ ...o, userIds }))), JSON.stringify(counts)]);
    return { orgs, counts, seconds: (Date.now() - started) / 1000 };
  } finally {
    await client.end();
  }
}

/** A database seeded earlier at this scale (bench --reuse). */
export async function findSeed(url: string, scale: number): Promise<SeedResult | undefined> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (!(await client.query("SELECT to_regclass('public.bench_meta') IS NOT NULL AS ok")).rows[0].ok) return undefined;
    const res = await client.query<{ orgs: SeededOrg[]; counts: Record<SeededObject, number> }>(
      'SELECT orgs, counts FROM bench_meta WHERE scale = $1 ORDER BY seeded_at DESC LIMIT 1',
      [scale],
    );
    return res.rows[0] ? { ...res.rows[0], seconds: 0 } : undefined;
  } finally {
    await client.end();
  }
}
