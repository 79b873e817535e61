import { newId } from '../ids.ts';
import type { Actor } from '../auth/actor.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, validationError } from '../http/errors.ts';
import type { Json } from '../objects/field-types.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';
import type { ExperimentInput, ExperimentResult } from './resilience.types.ts';

export type { ExperimentResult } from './resilience.types.ts';

const FIELDS = new Set(['runId', 'experiment', 'title', 'hypothesis', 'passed', 'startedAt', 'finishedAt', 'metrics', 'details', 'environment']);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseExperimentInput(body: unknown): ExperimentInput {
  if (!isObject(body)) throw validationError([{ path: '', message: 'the body must be a JSON object' }]);
  const errors: { path: string; message: string }[] = [];
  for (const k of Object.keys(body)) if (!FIELDS.has(k)) errors.push({ path: k, message: 'unknown field' });
  const str = (k: string, max: number, pattern?: RegExp, required = true): string => {
    const v = body[k];
    if (v === undefined && !required) return '';
    if (typeof v !== 'string' || v.length === 0 || v.length > max) {
      errors.push({ path: k, message: `must be a string of 1 to ${max} characters` });
      return '';
    }
    if (pattern && !pattern.test(v)) errors.push({ path: k, message: `must match ${pattern}` });
    return v;
  };
  const obj = (k: string): Record<string, Json> => {
    const v = body[k];
    if (v === undefined) return {};
    if (!isObject(v)) {
      errors.push({ path: k, message: 'must be a JSON object' });
      return {};
    }
    return v;
  };
  const input: ExperimentInput = {
    runId: str('runId', 100),
    experiment: str('experiment', 64, /^[a-z0-9][a-z0-9_-]*$/),
    title: str('title', 200),
    hypothesis: str('hypothesis', 2000, undefined, false),
    passed: body.passed === true,
    startedAt: str('startedAt', 40, RFC3339),
    finishedAt: str('finishedAt', 40, RFC3339),
    metrics: obj('metrics'),
    details: obj('details'),
    environment: obj('environment'),
  };
  if (typeof body.passed !== 'boolean') errors.push({ path: 'passed', message: 'must be true or false' });
  if (!errors.length && Date.parse(input.finishedAt) < Date.parse(input.startedAt)) {
    errors.push({ path: 'finishedAt', message: 'must not be before startedAt' });
  }
  if (JSON.stringify(body).length > 256 * 1024) errors.push({ path: '', message: 'a result may hold at most 256 KiB' });
  if (errors.length) throw validationError(errors);
  return input;
}

function toApi(r: Record<string, unknown>): ExperimentResult {
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
  return {
    id: String(r.id),
    runId: String(r.run_id),
    experiment: String(r.experiment),
    title: String(r.title),
    hypothesis: String(r.hypothesis),
    passed: Boolean(r.passed),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    metrics: r.metrics as Record<string, Json>,
    details: r.details as Record<string, Json>,
    environment: r.environment as Record<string, Json>,
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: iso(r.created_at),
  };
}

/** Stores one result through the write path (idempotent with an Idempotency-Key). Admins only. */
export function recordExperiment(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  if (ctx.actor.role !== 'admin') throw new AppError('forbidden', 'Only admins may record resilience experiment results.');
  const input = parseExperimentInput(body);
  return write(deps, ctx, 'POST /api/v1/resilience/experiments', body, async (tx) => {
    const id = newId();
    const res = await tx.client.query(
      `INSERT INTO resilience_experiments (id, organization_id, run_id, experiment, title, hypothesis, passed, started_at,
                                           finished_at, metrics, details, environment, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12::jsonb, $13, $14) RETURNING *`,
      [
        id,
        tx.actor.orgId,
        input.runId,
        input.experiment,
        input.title,
        input.hypothesis,
        input.passed,
        input.startedAt,
        input.finishedAt,
        JSON.stringify(input.metrics),
        JSON.stringify(input.details),
        JSON.stringify(input.environment),
        tx.actor.userId,
        tx.at,
      ],
    );
    const result = toApi(res.rows[0]);
    return { status: 201, body: result, headers: { Location: `/api/v1/resilience/experiments/${id}` } };
  });
}

function encodeCursor(startedAt: string, id: string): string {
  return Buffer.from(JSON.stringify([startedAt, id])).toString('base64url');
}

function decodeCursor(raw: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && RFC3339.test(v[0]) && typeof v[1] === 'string') {
      return [v[0], v[1]];
    }
  } catch {
    // fall through
  }
  throw validationError([{ path: 'cursor', message: 'is not a cursor this endpoint returned' }]);
}

/** Newest first. Filters: `experiment`, `runId`, `passed=true|false`; paging: `limit` (≤ 500), `cursor`. */
export async function listExperiments(
  pool: Pool,
  actor: Actor,
  query: Record<string, unknown>,
): Promise<{ data: ExperimentResult[]; nextCursor: string | null }> {
  const allowed = new Set(['experiment', 'runId', 'passed', 'limit', 'cursor']);
  const bad = Object.keys(query).filter((k) => !allowed.has(k) || typeof query[k] !== 'string');
  if (bad.length) throw validationError(bad.map((k) => ({ path: k, message: 'unknown or repeated query parameter' })));
  const q = query as Record<string, string | undefined>;
  const limit = q.limit === undefined ? 50 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw validationError([{ path: 'limit', message: 'must be an integer from 1 to 500' }]);
  if (q.passed !== undefined && q.passed !== 'true' && q.passed !== 'false') {
    throw validationError([{ path: 'passed', message: 'must be true or false' }]);
  }
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.experiment !== undefined) {
    params.push(q.experiment);
    where.push(`experiment = $${params.length}`);
  }
  if (q.runId !== undefined) {
    params.push(q.runId);
    where.push(`run_id = $${params.length}`);
  }
  if (q.passed !== undefined) {
    params.push(q.passed === 'true');
    where.push(`passed = $${params.length}`);
  }
  if (q.cursor !== undefined) {
    const [at, id] = decodeCursor(q.cursor);
    params.push(at, id);
    where.push(`(started_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(limit + 1);
  const rows = await withTenant(
    pool,
    actor,
    async (c) =>
      (
        await c.query(
          `SELECT * FROM resilience_experiments ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY started_at DESC, id DESC LIMIT $${params.length}`,
          params,
        )
      ).rows,
    { readOnly: true },
  );
  const data = rows.slice(0, limit).map(toApi);
  const last = data[data.length - 1];
  return { data, nextCursor: rows.length > limit && last ? encodeCursor(last.startedAt, last.id) : null };
}
