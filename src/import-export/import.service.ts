import { createHash } from 'node:crypto';
import { newId } from '../ids.ts';
import { callerId } from '../auth/actor.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, notFound } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { loadObject, type ResolvedObject } from '../objects/registry.ts';
import { type RecordValues, validateValues } from '../records/record-shape.ts';
import type { RequestCtx } from '../records/records.service.ts';
import { executeWrite, fingerprint, type WritePathDeps } from '../write/write-path.ts';
import { type CsvRecord, readCsv } from './csv.ts';
import { applyBatch, type BatchOutcome, type PreparedRow, type RowError } from './import-batch.ts';
import { type ColumnMapping, cellValue, type ImportOptions, normalizeKey, parseImportOptions, resolveMapping } from './mapping.ts';

/**
 * Bulk import as a job: the CSV streams through the reader in batches; each batch is one
 * write-path transaction (records + audit + outbox + receipt + job counters), so progress
 * is exactly what is committed. With an Idempotency-Key the same upload replays the
 * finished job, or resumes an interrupted one: committed batches are recognised by their
 * write receipts and not applied twice.
 */

export interface ImportDeps extends WritePathDeps {
  pool: Pool;
  writeDeadlineMs: number;
}

export const BATCH_SIZE = 2000;
/**
 * Batches committed at once. Two keep both cores busy (index maintenance of one batch
 * while the other parses, validates and hashes); more only queue on the audit chain head.
 */
export const BATCHES_IN_FLIGHT = 2;
/** Errors kept per job (all are counted). */
export const MAX_STORED_ERRORS = 1000;
/** A running job not heard from for this long lost its node: the same upload may resume it. */
const STALE_AFTER_MS = 60_000;

export interface ImportView {
  id: string;
  object: string;
  mode: string;
  upsertBy: string | null;
  status: 'running' | 'completed' | 'failed';
  mapping: Json;
  rowsRead: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsUnchanged: number;
  rowsRejected: number;
  batches: number;
  failure: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  errors?: { row: number; line: number; field: string | null; message: string }[];
  errorsTruncated?: boolean;
  [key: string]: Json | undefined;
}

interface ImportRow {
  id: string;
  object: string;
  mode: string;
  upsert_key: string | null;
  mapping: Json;
  status: ImportView['status'];
  created_by: string;
  request_hash: string;
  file_sha256: string | null;
  rows_read: string;
  rows_inserted: string;
  rows_updated: string;
  rows_unchanged: string;
  rows_rejected: string;
  batches: number;
  failure: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

function toView(r: ImportRow): ImportView {
  return {
    id: r.id,
    object: r.object,
    mode: r.mode,
    upsertBy: r.upsert_key,
    status: r.status,
    mapping: r.mapping,
    rowsRead: Number(r.rows_read),
    rowsInserted: Number(r.rows_inserted),
    rowsUpdated: Number(r.rows_updated),
    rowsUnchanged: Number(r.rows_unchanged),
    rowsRejected: Number(r.rows_rejected),
    batches: r.batches,
    failure: r.failure,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

export interface ImportResult {
  status: number;
  job: ImportView;
  replayed: boolean;
}

export async function runImport(
  deps: ImportDeps,
  ctx: RequestCtx,
  object: string,
  query: Record<string, unknown>,
  upload: AsyncIterable<Buffer>,
): Promise<ImportResult> {
  requirePermission(ctx.actor, object, 'create');
  const opts = parseImportOptions(object, query);
  if (opts.mode === 'upsert') requirePermission(ctx.actor, object, 'update');
  const requestHash = fingerprint('POST', `/${object}/import`, { mode: opts.mode, upsertKey: opts.upsertKey, map: opts.explicit });

  const sha = createHash('sha256');
  const source = hashing(upload, sha);

  let existing: ImportRow | undefined;
  if (ctx.idempotencyKey !== undefined) {
    existing = await findByKey(deps.pool, ctx, ctx.idempotencyKey);
    if (existing) {
      if (existing.request_hash !== requestHash || existing.object !== object) throw keyReused();
      const stale = Date.now() - existing.updated_at.getTime() > STALE_AFTER_MS;
      if (existing.status === 'completed') {
        // The same upload again: read it (to compare), answer with the finished job.
        for await (const _ of source) {
          /* drain */
        }
        if (existing.file_sha256 !== null && existing.file_sha256 !== sha.digest('hex')) throw keyReused();
        return { status: 200, job: await getImport(deps.pool, ctx.actor, existing.id), replayed: true };
      }
      if (existing.status === 'running' && !stale) {
        throw new AppError('idempotency_in_progress', 'This import is still running. Follow it at GET /api/v1/imports/{id}.', undefined, {
          importId: existing.id,
        }, { 'Retry-After': '5' });
      }
      // failed, or running on a node that went away: resume with the same batches.
    }
  }

  const records = readCsv(source)[Symbol.asyncIterator]();
  const first = await records.next();
  if (first.done) throw new AppError('validation_failed', 'The file is empty: send a header row and then one row per record.', [{ path: 'file', message: 'is empty' }]);
  const header = first.value;
  if (!header.ok) {
    throw new AppError('validation_failed', `The header row ${header.message}.`, [{ path: 'header', message: header.message }]);
  }

  const obj = await withTenant(deps.pool, ctx.actor, (c) => loadObject(c, object), { readOnly: true });
  const mapping = resolveMapping(obj, header.cells, opts);
  const importId = existing?.id ?? newId();
  if (existing) await startResume(deps.pool, ctx, importId);
  else await createJob(deps.pool, ctx, importId, object, opts, mapping, requestHash);

  const runner = new BatchRunner(deps, ctx, importId, obj, opts, mapping);
  try {
    for (let next = await records.next(); !next.done; next = await records.next()) {
      await runner.add(next.value, header.cells.length);
    }
    await runner.finish();
  } catch (err) {
    const reason = err instanceof AppError ? err.detail : 'the upload stopped or the database failed';
    await markFailed(deps.pool, ctx, importId, `${reason} (after ${runner.rowsSeen} rows). Send the same file again with the same Idempotency-Key to resume.`).catch(() => {});
    if (err instanceof AppError) throw err;
    if (isStreamAbort(err)) throw new AppError('bad_request', 'The upload was interrupted; committed batches are kept and the job can be resumed.');
    throw err;
  }

  const sum = sha.digest('hex');
  await executeWrite(
    deps,
    {
      actor: ctx.actor,
      requestId: ctx.requestId,
      // No client key: a resumed job must finish again (the update is idempotent anyway).
      requestFingerprint: fingerprint('POST', `/imports/${importId}/done`, null),
      deadlineAt: Date.now() + deps.writeDeadlineMs,
    },
    async (tx) => {
      const res = await tx.client.query<ImportRow>(
        `UPDATE imports SET status = 'completed', file_sha256 = $2, finished_at = now(), updated_at = now(), failure = NULL
         WHERE id = $1 RETURNING *`,
        [importId, sum],
      );
      const job = toView(res.rows[0]);
      tx.emit({
        type: 'import.completed',
        object,
        recordId: importId,
        payload: {
          importId,
          rowsRead: job.rowsRead,
          rowsInserted: job.rowsInserted,
          rowsUpdated: job.rowsUpdated,
          rowsRejected: job.rowsRejected,
        },
      });
      return { status: 201, body: null };
    },
  );
  return { status: existing ? 200 : 201, job: await getImport(deps.pool, ctx.actor, importId), replayed: false };
}

async function* hashing(source: AsyncIterable<Buffer>, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}

function isStreamAbort(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (err instanceof Error && /aborted/i.test(err.message));
}

function keyReused(): AppError {
  return new AppError(
    'idempotency_key_reused',
    'This Idempotency-Key was already used for a different import (other options or another file). Use a new key for a new import.',
  );
}

/**
 * Collects prepared rows into batches and commits up to BATCHES_IN_FLIGHT at a time,
 * parsing the next batch meanwhile. In upsert mode a key seen twice closes the batch
 * (so a later row updates what an earlier row created, in file order), and a key that a
 * batch still in flight carries waits for it to commit.
 */
class BatchRunner {
  rowsSeen = 0;
  private batchNo = 0;
  private rows: PreparedRow[] = [];
  private rejected: RowError[] = [];
  private read = 0;
  private keys = new Set<string>();
  private inflight: { done: Promise<BatchOutcome>; keys: Set<string> }[] = [];
  private readonly deps: ImportDeps;
  private readonly ctx: RequestCtx;
  private readonly importId: string;
  private readonly obj: ResolvedObject;
  private readonly opts: ImportOptions;
  private readonly mapping: ColumnMapping;

  constructor(deps: ImportDeps, ctx: RequestCtx, importId: string, obj: ResolvedObject, opts: ImportOptions, mapping: ColumnMapping) {
    this.deps = deps;
    this.ctx = ctx;
    this.importId = importId;
    this.obj = obj;
    this.opts = opts;
    this.mapping = mapping;
  }

  async add(rec: CsvRecord, width: number): Promise<void> {
    this.rowsSeen++;
    const prepared = this.prepare(rec, width);
    const key = prepared.key;
    if (key !== null) {
      if (this.keys.has(key)) await this.flush();
      if (this.inflight.some((b) => b.keys.has(key))) await this.drain();
    }
    this.read++;
    if ('message' in prepared) this.rejected.push(prepared);
    else {
      this.rows.push(prepared);
      if (key !== null) this.keys.add(key);
    }
    if (this.read >= BATCH_SIZE) await this.flush();
  }

  async finish(): Promise<void> {
    if (this.read > 0) await this.flush();
    await this.drain();
  }

  /** Waits for every batch in flight, in order (the first failure stops the import). */
  private async drain(): Promise<void> {
    while (this.inflight[0]) await this.inflight[0].done.finally(() => this.inflight.shift());
  }

  /** Starts committing the current batch once there is room in the window. */
  private async flush(): Promise<void> {
    while (this.inflight[0] && this.inflight.length >= BATCHES_IN_FLIGHT) await this.inflight[0].done.finally(() => this.inflight.shift());
    const done = this.commit(++this.batchNo, this.rows, this.rejected, this.read);
    // Awaited in order by drain/flush; marked handled so a failure while parsing is not "unhandled".
    void done.catch(() => {});
    this.inflight.push({ done, keys: this.keys });
    this.rows = [];
    this.rejected = [];
    this.read = 0;
    this.keys = new Set();
  }

  private prepare(rec: CsvRecord, width: number): PreparedRow | (RowError & { key: null }) {
    const fail = (field: string | null, message: string) => ({ row: rec.record, line: rec.line, field, message, key: null });
    if (!rec.ok) return fail(null, `row ${rec.record}${rec.column ? `, column ${rec.column}` : ''} ${rec.message}`);
    if (rec.cells.length !== width) {
      return fail(null, `has ${rec.cells.length} fields but the header has ${width}`);
    }
    const values: RecordValues = {};
    const problems: { field: string | null; message: string }[] = [];
    for (const [i, field] of this.mapping.columns.entries()) {
      if (!field) continue;
      const cell = cellValue(field, rec.cells[i]);
      if ('message' in cell) problems.push(cell);
      else if (cell.value !== undefined) values[field.name] = cell.value;
    }
    if (problems.length) return fail(problems[0].field, problems.map((p) => `${p.field}: ${p.message}`).join('; '));
    let checked: RecordValues;
    try {
      checked = validateValues(this.obj, values, this.opts.mode === 'insert' ? 'create' : 'update');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const errs = err.errors ?? [{ path: '', message: err.detail }];
      return fail(errs[0].path.replace(/^\//, '') || null, errs.map((e) => `${e.path.replace(/^\//, '')}: ${e.message}`).join('; '));
    }
    let key: string | null = null;
    if (this.opts.upsertKey) {
      key = normalizeKey(this.opts.upsertKey, checked[this.opts.upsertKey]);
      if (key === null) return fail(this.opts.upsertKey, `is empty; every row needs its ${this.opts.upsertKey} to upsert`);
    }
    return { row: rec.record, line: rec.line, values: checked, key };
  }

  private async commit(batch: number, rows: PreparedRow[], rejected: RowError[], read: number): Promise<BatchOutcome> {
    const result = await executeWrite(
      this.deps,
      {
        actor: this.ctx.actor,
        requestId: this.ctx.requestId,
        idempotencyKey: `import:${this.importId}:${batch}`,
        requestFingerprint: fingerprint('POST', `/imports/${this.importId}/batches/${batch}`, { read }),
        deadlineAt: Date.now() + this.deps.writeDeadlineMs,
        // Thousands of entries per batch: linked in the batch's own transaction (see WriteRequest).
        auditLinking: 'in-transaction',
      },
      async (tx) => ({
        status: 200,
        body: await applyBatch(tx, {
          importId: this.importId,
          batch,
          obj: this.obj,
          upsertKey: this.opts.upsertKey,
          rows,
          rejected,
          rowsRead: read,
          maxStoredErrors: MAX_STORED_ERRORS,
        }),
      }),
    );
    return result.body as BatchOutcome;
  }
}

async function findByKey(pool: Pool, ctx: RequestCtx, key: string): Promise<ImportRow | undefined> {
  return withTenant(
    pool,
    ctx.actor,
    async (c) => (await c.query<ImportRow>('SELECT * FROM imports WHERE caller_id = $1 AND idempotency_key = $2', [callerId(ctx.actor), key])).rows[0],
    { readOnly: true },
  );
}

async function createJob(
  pool: Pool,
  ctx: RequestCtx,
  id: string,
  object: string,
  opts: ImportOptions,
  mapping: ColumnMapping,
  requestHash: string,
): Promise<void> {
  try {
    await withTenant(pool, ctx.actor, (c) =>
      c.query(
        `INSERT INTO imports (organization_id, id, object, mode, upsert_key, mapping, status, created_by, caller_id, idempotency_key, request_hash)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10)`,
        [
          ctx.actor.orgId,
          id,
          object,
          opts.mode,
          opts.upsertKey,
          JSON.stringify(mapping.described),
          ctx.actor.userId,
          callerId(ctx.actor),
          ctx.idempotencyKey ?? null,
          requestHash,
        ],
      ),
    );
  } catch (err) {
    // Two uploads with one key at the same moment: the second waits for the first.
    if ((err as { code?: unknown }).code === '23505') {
      throw new AppError('idempotency_in_progress', 'An import with this Idempotency-Key is already running.', undefined, undefined, {
        'Retry-After': '5',
      });
    }
    throw err;
  }
}

async function startResume(pool: Pool, ctx: RequestCtx, id: string): Promise<void> {
  await withTenant(pool, ctx.actor, (c) => c.query("UPDATE imports SET status = 'running', failure = NULL, updated_at = now() WHERE id = $1", [id]));
}

async function markFailed(pool: Pool, ctx: RequestCtx, id: string, failure: string): Promise<void> {
  await withTenant(pool, ctx.actor, (c) =>
    c.query("UPDATE imports SET status = 'failed', failure = $2, updated_at = now(), finished_at = now() WHERE id = $1", [id, failure.slice(0, 1000)]),
  );
}

/** Admins see every import of the organization; others their own. */
function visibleSql(actor: RequestCtx['actor']): { sql: string; params: unknown[] } {
  return actor.role === 'admin' ? { sql: 'true', params: [] } : { sql: 'created_by = $1', params: [actor.userId] };
}

export async function getImport(pool: Pool, actor: RequestCtx['actor'], id: string): Promise<ImportView> {
  if (!isUuid(id)) throw notFound('The import');
  return withTenant(
    pool,
    actor,
    async (c) => {
      const vis = visibleSql(actor);
      const res = await c.query<ImportRow>(`SELECT * FROM imports WHERE id = $${vis.params.length + 1} AND ${vis.sql}`, [...vis.params, id]);
      if (!res.rows[0]) throw notFound('The import');
      const job = toView(res.rows[0]);
      const errs = await c.query<{ row_number: string; line: string; field: string | null; message: string }>(
        'SELECT row_number, line, field, message FROM import_errors WHERE import_id = $1 ORDER BY row_number LIMIT $2',
        [id, MAX_STORED_ERRORS],
      );
      job.errors = errs.rows.map((e) => ({ row: Number(e.row_number), line: Number(e.line), field: e.field, message: e.message }));
      job.errorsTruncated = job.rowsRejected > job.errors.length;
      return job;
    },
    { readOnly: true },
  );
}

export async function listImports(pool: Pool, actor: RequestCtx['actor'], query: Record<string, unknown>): Promise<{ data: ImportView[] }> {
  const unknown = Object.keys(query).filter((k) => k !== 'idempotencyKey' && k !== 'limit');
  const limitRaw = query.limit;
  if (unknown.length || (limitRaw !== undefined && (typeof limitRaw !== 'string' || !/^\d{1,3}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > 100))) {
    throw new AppError('validation_failed', 'Accepted: ?idempotencyKey=...&limit=1..100.', [
      { path: unknown[0]?.slice(0, 100) ?? 'limit', message: 'unknown or invalid query parameter' },
    ]);
  }
  const key = typeof query.idempotencyKey === 'string' ? query.idempotencyKey : null;
  return withTenant(
    pool,
    actor,
    async (c) => {
      const vis = visibleSql(actor);
      const params: unknown[] = [...vis.params, key, callerId(actor), Number(limitRaw ?? 20)];
      const n = vis.params.length;
      const res = await c.query<ImportRow>(
        `SELECT * FROM imports WHERE ${vis.sql} AND ($${n + 1}::text IS NULL OR (idempotency_key = $${n + 1} AND caller_id = $${n + 2}))
         ORDER BY created_at DESC, id DESC LIMIT $${n + 3}`,
        params,
      );
      return { data: res.rows.map(toView) };
    },
    { readOnly: true },
  );
}
