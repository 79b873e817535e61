import { sealAudit } from '../support/harness.ts';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { expect } from 'vitest';

/**
 * A load generator that keeps books: every logical request it sends (with its
 * Idempotency-Key), every HTTP attempt, every acknowledgement. It retries, with the same
 * key, what a careful client retries: transport failures, 503 and 409 (still in progress).
 * Afterwards `checkExactlyOnce` compares the books with the database.
 */
export interface LoadOptions {
  baseUrl: string;
  token: string;
  /** One opportunity per worker: each worker PATCHes its own one, in sequence. */
  opportunityIds: string[];
  requests: number;
  /** Fraction of requests that are creates (the rest are PATCHes). */
  createRatio?: number;
  maxAttempts?: number;
  /** Marker prefix: unique per run. */
  prefix: string;
  /** Updated live, so a test can time its faults by the load's progress. */
  progress?: { acks: number };
}

export interface Op {
  kind: 'create' | 'patch';
  marker: string;
  key: string;
  opportunityId?: string;
  acked: boolean;
  attempts: number;
  finalStatus?: number;
}

export interface LoadReport {
  requests: number;
  attempts: number;
  retries: number;
  acks: number;
  /** Answers the client saw that were not a success (each retried one counts). */
  clientVisibleErrors: number;
  /** Requests that never got a success, even after retrying. */
  unacked: number;
  statuses: Record<string, number>;
  ops: Op[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const createRatio = opts.createRatio ?? 0.5;
  const maxAttempts = opts.maxAttempts ?? 30;
  const ops: Op[] = [];
  const statuses: Record<string, number> = {};
  let attempts = 0;
  let errors = 0;
  let next = 0;

  async function send(op: Op, etag: string | undefined): Promise<{ status: number; etag: string | null } | undefined> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${opts.token}`,
      'content-type': 'application/json',
      'idempotency-key': op.key,
      'x-request-id': op.marker,
    };
    const isCreate = op.kind === 'create';
    if (!isCreate && etag) headers['if-match'] = etag;
    const url = isCreate ? `${opts.baseUrl}/api/v1/accounts` : `${opts.baseUrl}/api/v1/opportunities/${op.opportunityId}`;
    const body = isCreate ? { name: op.marker } : { nextStep: op.marker };
    attempts++;
    op.attempts++;
    try {
      const res = await fetch(url, { method: isCreate ? 'POST' : 'PATCH', headers, body: JSON.stringify(body) });
      await res.arrayBuffer();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      return { status: res.status, etag: res.headers.get('etag') };
    } catch {
      statuses.transport = (statuses.transport ?? 0) + 1;
      return undefined;
    }
  }

  async function worker(w: number): Promise<void> {
    const opportunityId = opts.opportunityIds[w];
    let etag: string | undefined = '"1"';
    for (;;) {
      const i = next++;
      if (i >= opts.requests) return;
      const kind = Math.random() < createRatio ? 'create' : 'patch';
      const op: Op = { kind, marker: `${opts.prefix}:${kind}:${i}`, key: randomUUID(), opportunityId, acked: false, attempts: 0 };
      ops.push(op);
      for (let a = 0; a < maxAttempts; a++) {
        const res = await send(op, etag);
        if (res && res.status >= 200 && res.status < 300) {
          op.acked = true;
          op.finalStatus = res.status;
          if (opts.progress) opts.progress.acks++;
          if (kind === 'patch' && res.etag) etag = res.etag;
          break;
        }
        errors++;
        op.finalStatus = res?.status;
        // Only our own unacknowledged earlier PATCH can have moved this worker's record on.
        if (res?.status === 412 && res.etag) etag = res.etag;
        const retryable = res === undefined || res.status === 503 || res.status === 409;
        if (!retryable) break;
        await sleep(20 + Math.random() * 80);
      }
    }
  }

  await Promise.all(opts.opportunityIds.map((_, w) => worker(w)));
  const acks = ops.filter((o) => o.acked).length;
  return {
    requests: ops.length,
    attempts,
    retries: attempts - ops.length,
    acks,
    clientVisibleErrors: errors,
    unacked: ops.length - acks,
    statuses,
    ops,
  };
}

export interface ExactlyOnce {
  lost: number;
  duplicated: number;
  /** Unacknowledged requests that nevertheless happened (allowed: at most once each). */
  appliedWithoutAck: number;
}

/** Every acknowledged write is in the database exactly once; nothing at all is there twice. */
export async function checkExactlyOnce(db: pg.Pool, report: LoadReport, prefix: string): Promise<ExactlyOnce> {
  await sealAudit(db);
  const creates = await db.query<{ name: string; n: number }>(
    'SELECT name, count(*)::int AS n FROM accounts WHERE name LIKE $1 GROUP BY name',
    [`${prefix}:%`],
  );
  const patches = await db.query<{ marker: string; n: number }>(
    `SELECT c->>'new' AS marker, count(*)::int AS n
     FROM audit_log, jsonb_array_elements(changes) c
     WHERE action = 'update' AND c->>'field' = 'nextStep' AND c->>'new' LIKE $1
     GROUP BY 1`,
    [`${prefix}:%`],
  );
  const inDb = new Map<string, number>();
  for (const r of creates.rows) inDb.set(r.name, r.n);
  for (const r of patches.rows) inDb.set(r.marker, r.n);
  let lost = 0;
  let duplicated = 0;
  let appliedWithoutAck = 0;
  for (const op of report.ops) {
    const n = inDb.get(op.marker) ?? 0;
    if (n > 1) duplicated++;
    if (op.acked && n === 0) lost++;
    if (!op.acked && n === 1) appliedWithoutAck++;
  }
  return { lost, duplicated, appliedWithoutAck };
}

/** Every opportunity's version is 1 + its applied PATCHes, and the trail agrees. */
export async function checkVersions(db: pg.Pool, report: LoadReport, opportunityIds: string[]): Promise<void> {
  await sealAudit(db);
  for (const id of opportunityIds) {
    const row = await db.query<{ version: number; updates: number }>(
      `SELECT o.version, (SELECT count(*)::int FROM audit_log a WHERE a.record_id = o.id AND a.action = 'update') AS updates
       FROM opportunities o WHERE o.id = $1`,
      [id],
    );
    const acked = report.ops.filter((o) => o.opportunityId === id && o.kind === 'patch' && o.acked).length;
    expect(row.rows[0].version).toBe(1 + row.rows[0].updates);
    expect(row.rows[0].updates).toBeGreaterThanOrEqual(acked);
  }
}
