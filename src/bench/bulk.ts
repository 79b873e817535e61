import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { request } from 'undici';
import { sleep } from '../write/retry.ts';
import { chunked, contactIdentity, copyValue, type SeededOrg, searchVectorSql } from './seed.ts';
import type { WalActivity } from './database.ts';
import type { RunningServer } from './server.ts';

export interface BulkResult {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  megabytes: number;
  /** Server resident memory during the run: first sample, peak, last sample (MB). */
  rssMb: { start: number; peak: number; end: number };
  detail: Record<string, unknown>;
  /** WAL written and checkpoints started during it, when measured. */
  wal?: WalActivity;
  /** The same rows loaded straight into PostgreSQL by the bench (no HTTP, no application logic), when measured. */
  raw?: { seconds: number; rowsPerSecond: number; steps: Record<string, number>; wal?: WalActivity };
}

function sampleRss(server: RunningServer): { stop: () => { start: number; peak: number; end: number } } {
  const samples: number[] = [];
  const take = () => {
    const v = server.rss();
    if (v !== null) samples.push(v / 1024 / 1024);
  };
  take();
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      const r = (n: number) => Math.round(n);
      return { start: r(samples[0] ?? 0), peak: r(Math.max(...samples)), end: r(samples[samples.length - 1] ?? 0) };
    },
  };
}

interface ImportSpec {
  rows: number;
  existing: number;
  updateShare: number;
  runId: string;
}

const IMPORT_COLUMNS = ['email', 'first_name', 'last_name', 'title', 'phone'] as const;

/** The file's rows: the first `updates` name seeded contacts by email (new title, nothing else), the rest are new. */
function* importRows(spec: ImportSpec): Generator<(string | null)[]> {
  const updates = importUpdates(spec);
  for (let i = 0; i < spec.rows; i++) {
    if (i < updates) {
      const p = contactIdentity(0, i);
      yield [p.email, p.first, p.last, `imported ${spec.runId}`, null];
    } else {
      yield [`new.${spec.runId}.${i}@import.example`, 'New', `Person ${i}`, 'buyer', `+1 555 ${i % 10_000}`];
    }
  }
}

function importUpdates(spec: ImportSpec): number {
  return Math.min(spec.existing, Math.round(spec.rows * spec.updateShare));
}

function* mapLines<T>(items: Iterable<T>, line: (item: T, n: number) => string): Generator<string> {
  let n = 0;
  for (const item of items) yield line(item, ++n);
}

/**
 * Upsert by email of `rows` contacts: the first `updateShare` of them are existing
 * (seeded) contacts with a new title, the rest are new. The CSV is generated while it
 * uploads, so the client holds no file either.
 */
export async function importBenchmark(
  server: RunningServer,
  token: string,
  opts: ImportSpec & {
    /** Audit entries committed but not linked into the chain yet (the import is reported done when its job is; linking follows). */
    pendingAudit?: () => Promise<number>;
  },
): Promise<BulkResult> {
  const updates = importUpdates(opts);
  let bytes = 0;
  function* csv(): Generator<Buffer> {
    const lines = mapLines(importRows(opts), (cells) => `${cells.map((c) => c ?? '').join(',')}\n`);
    for (const chunk of chunked(lines, 'email,firstName,lastName,title,phone\n')) {
      bytes += chunk.length;
      yield chunk;
    }
  }
  const rss = sampleRss(server);
  const t0 = performance.now();
  const res = await request(`${server.url}/api/v1/contacts/import?upsertBy=email`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'idempotency-key': `bench-import-${opts.runId}` },
    body: Readable.from(csv()),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const job = (await res.body.json()) as Record<string, unknown>;
  const seconds = (performance.now() - t0) / 1000;
  if (res.statusCode !== 201) throw new Error(`import failed: ${res.statusCode} ${JSON.stringify(job).slice(0, 500)}`);
  const { errors: _errors, mapping: _mapping, ...counts } = job;
  if (opts.pendingAudit) {
    // How long the background sealer took to link the import's audit entries after the job finished.
    const pendingAtEnd = await opts.pendingAudit();
    for (let left = pendingAtEnd; left > 0; left = await opts.pendingAudit()) await sleep(250);
    counts.auditPendingAtEnd = pendingAtEnd;
    counts.auditLinkedSecondsAfterEnd = Number(((performance.now() - t0) / 1000 - seconds).toFixed(1));
  }
  return {
    name: `import ${opts.rows.toLocaleString('en')} contacts (upsert by email, ${updates.toLocaleString('en')} updates)`,
    rows: opts.rows,
    seconds,
    rowsPerSecond: opts.rows / seconds,
    megabytes: bytes / 1024 / 1024,
    rssMb: rss.stop(),
    detail: counts,
  };
}

export async function exportBenchmark(server: RunningServer, token: string, format: 'csv' | 'ndjson'): Promise<BulkResult> {
  const rss = sampleRss(server);
  const t0 = performance.now();
  const res = await request(`${server.url}/api/v1/contacts/export?format=${format}`, {
    headers: { authorization: `Bearer ${token}` },
    bodyTimeout: 0,
  });
  if (res.statusCode !== 200) throw new Error(`export failed: ${res.statusCode} ${(await res.body.text()).slice(0, 300)}`);
  let bytes = 0;
  let lines = 0;
  await pipeline(
    res.body,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
        done();
      },
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const rows = format === 'csv' ? lines - 1 : lines;
  return {
    name: `export all contacts of one organization (${format})`,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    megabytes: bytes / 1024 / 1024,
    rssMb: rss.stop(),
    detail: {},
  };
}

/**
 * The import's baseline: the same file's rows loaded by the bench straight into
 * PostgreSQL, the fastest way it knows — COPY into a temporary table, then one set-based
 * UPDATE of the matched contacts and one INSERT … SELECT of the new ones (search vector
 * computed as the seed does), and one audit row per record hashed in SQL — as the table
 * owner, in one transaction that is rolled back (and the table vacuumed). No HTTP, no parsing or validation, no
 * row-level security, no hash chain: the floor for putting these rows into this table
 * with its indexes on this machine.
 */
export async function rawImportBaseline(pool: pg.Pool, org: SeededOrg, spec: ImportSpec): Promise<NonNullable<BulkResult['raw']>> {
  const client = await pool.connect();
  const steps: Record<string, number> = {};
  const t0 = performance.now();
  const step = async (name: string, work: () => Promise<unknown>) => {
    const s0 = performance.now();
    await work();
    steps[name] = Number(((performance.now() - s0) / 1000).toFixed(2));
  };
  try {
    const v = await client.query<{ n: number }>("SELECT current_setting('server_version_num')::int AS n");
    const newId = v.rows[0].n >= 180000 ? 'uuidv7()' : 'gen_random_uuid()';
    await client.query('BEGIN');
    await client.query(
      `CREATE TEMP TABLE raw_import (n int, ${IMPORT_COLUMNS.map((c) => `${c} text`).join(', ')}, id uuid, matched boolean) ON COMMIT DROP`,
    );
    await step('copy', () =>
      pipeline(
        Readable.from(chunked(mapLines(importRows(spec), (cells, n) => `${n}\t${cells.map(copyValue).join('\t')}\n`))),
        client.query(copyFrom(`COPY raw_import (n, ${IMPORT_COLUMNS.join(', ')}) FROM STDIN`)),
      ),
    );
    await step('match', () =>
      client.query(
        `UPDATE raw_import s SET id = c.id, matched = true FROM contacts c
         WHERE c.organization_id = $1 AND lower(c.email) = lower(s.email) AND c.deleted_at IS NULL`,
        [org.orgId],
      ),
    );
    await step('update', () =>
      client.query(
        `UPDATE contacts t SET title = s.title, version = t.version + 1, updated_at = now(), updated_by = $1,
           search_vector = ${searchVectorSql('contacts', new Set(['first_name', 'last_name', 'email', 'title', 'phone']))}
         FROM (SELECT r.id, r.email, t0.first_name, t0.last_name, r.title, t0.phone FROM raw_import r JOIN contacts t0 ON t0.id = r.id WHERE r.matched) s
         WHERE t.id = s.id`,
        [org.adminId],
      ),
    );
    await step('insert', () =>
      client.query(
        `WITH fresh AS (UPDATE raw_import SET id = ${newId} WHERE matched IS NULL RETURNING *)
         INSERT INTO contacts (id, organization_id, owner_id, created_by, updated_by, ${IMPORT_COLUMNS.join(', ')}, search_vector)
         SELECT s.id, $1, $2, $2, $2, ${IMPORT_COLUMNS.map((c) => `s.${c}`).join(', ')},
           ${searchVectorSql('contacts', new Set(IMPORT_COLUMNS))}
         FROM fresh s`,
        [org.orgId, org.adminId],
      ),
    );
    await step('audit', () =>
      client.query(
        `INSERT INTO audit_log (organization_id, seq, id, at, actor_id, actor_type, request_id, object, record_id, action, changes, context, prev_hash, hash)
         SELECT $1, h.seq + s.n, ${newId}, now(), $2, 'user', 'raw-import', 'contacts', s.id, CASE WHEN s.matched THEN 'update' ELSE 'create' END,
           s.changes, jsonb_build_object('row', s.n + 1), '', encode(sha256(convert_to(s.changes::text, 'UTF8')), 'hex')
         FROM (SELECT n, id, matched, jsonb_build_array(jsonb_build_object('field', 'email', 'new', email), jsonb_build_object('field', 'title', 'new', title)) AS changes FROM raw_import) s,
           (SELECT coalesce(max(seq), 0) + 1000000000 AS seq FROM audit_log WHERE organization_id = $1) h`,
        [org.orgId, org.adminId],
      ),
    );
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
  const seconds = (performance.now() - t0) / 1000;
  try {
    // Not timed: what the rollback left behind, so that the next run finds the table as this one did.
    await client.query('VACUUM contacts, audit_log');
  } finally {
    client.release();
  }
  return { seconds, rowsPerSecond: spec.rows / seconds, steps };
}
