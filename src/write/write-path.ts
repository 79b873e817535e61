import { createHash, randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { type AuditEntry, chainHash } from '../audit/chain.ts';
import { type Actor, callerId } from '../auth/actor.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { beginSql } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import type { Json } from '../objects/field-types.ts';
import { backoffMs, isConnectionError, isRetryable, sleep } from './retry.ts';

/**
 * THE write path. Every change Basalt makes on behalf of a caller runs through
 * executeWrite, as one transaction holding: the change, its audit entries (hash-chained),
 * its outbox events, and its write receipt (the idempotency record). The whole
 * transaction is retried on connection loss, serialization failures, deadlocks and
 * failover, until the write deadline; a COMMIT whose answer was lost is resolved by
 * looking for the receipt on a fresh connection, so nothing is applied twice.
 */

export interface WriteResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface WriteResult extends WriteResponse {
  replayed: boolean;
  attempts: number;
}

export interface WriteRequest {
  actor: Actor;
  requestId: string;
  /** Client's Idempotency-Key, if any. */
  idempotencyKey?: string;
  /** Fingerprint of what was asked (method, route, body). */
  requestFingerprint: string;
  deadlineAt: number;
}

export type AuditInput = Pick<AuditEntry, 'object' | 'recordId' | 'action' | 'changes'> & { context?: Json };

export interface EventInput {
  type: string;
  object: string;
  recordId: string;
  payload: Record<string, Json>;
}

export interface WriteTx {
  readonly client: PoolClient;
  readonly actor: Actor;
  readonly requestId: string;
  /** Time of this change (one value for every entry of the transaction). */
  readonly at: string;
  audit(entry: AuditInput): void;
  emit(event: EventInput): void;
}

export interface WritePathDeps {
  pool: Pool;
  /** Called after a successful commit with the events written (in-process consumers). */
  onCommitted?: (events: { id: string; type: string }[]) => void;
  log?: { warn: (obj: object, msg: string) => void };
}

const CLIENT_KEY_TTL = '48 hours';
const SERVER_KEY_TTL = '1 hour';

export function fingerprint(method: string, route: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${route}\n${JSON.stringify(body ?? null)}`)
    .digest('hex');
}

class Tx implements WriteTx {
  readonly audits: AuditInput[] = [];
  readonly events: (EventInput & { id: string })[] = [];
  readonly client: PoolClient;
  readonly actor: Actor;
  readonly requestId: string;
  readonly at: string;
  constructor(client: PoolClient, actor: Actor, requestId: string, at: string) {
    this.client = client;
    this.actor = actor;
    this.requestId = requestId;
    this.at = at;
  }
  audit(entry: AuditInput): void {
    this.audits.push(entry);
  }
  emit(event: EventInput): void {
    this.events.push({ ...event, id: uuidv7() });
  }
}

interface Receipt {
  request_hash: string;
  status_code: number;
  response_body: unknown;
  response_headers: Record<string, string>;
}

export async function executeWrite(
  deps: WritePathDeps,
  req: WriteRequest,
  work: (tx: WriteTx) => Promise<WriteResponse>,
): Promise<WriteResult> {
  const caller = callerId(req.actor);
  // Without a client key the server still keys the write, to resolve a lost COMMIT answer.
  const key = req.idempotencyKey ?? `server:${req.requestId}:${randomUUID()}`;
  for (let attempt = 1; ; attempt++) {
    let client: PoolClient | undefined;
    let committing = false;
    try {
      client = await deps.pool.connect();
      const result = await attemptOnce(deps, req, client, caller, key, work, () => {
        committing = true;
      });
      client.release();
      client = undefined;
      return { ...result, attempts: attempt };
    } catch (err) {
      if (client) {
        const broken = isConnectionError(err);
        if (!broken) await client.query('ROLLBACK').catch(() => {});
        client.release(broken ? (err as Error) : undefined);
      }
      if (err instanceof AppError) throw err;
      if (!isRetryable(err)) throw err;
      if (committing) {
        // The COMMIT may have happened: the receipt, written in the same transaction, says.
        const stored = await findReceipt(deps.pool, req.actor, caller, key).catch(() => undefined);
        if (stored) {
          return {
            status: stored.status_code,
            body: stored.response_body,
            headers: stored.response_headers,
            replayed: false,
            attempts: attempt,
          };
        }
      }
      const wait = backoffMs(attempt);
      if (Date.now() + wait >= req.deadlineAt) {
        throw new AppError('unavailable', 'The database is unavailable; the change was not applied. Retry later.', undefined, undefined, {
          'Retry-After': '1',
        });
      }
      deps.log?.warn({ err, attempt, requestId: req.requestId }, 'write transaction failed; retrying');
      await sleep(wait);
    }
  }
}

async function attemptOnce(
  deps: WritePathDeps,
  req: WriteRequest,
  client: PoolClient,
  caller: string,
  key: string,
  work: (tx: WriteTx) => Promise<WriteResponse>,
  markCommitting: () => void,
): Promise<Omit<WriteResult, 'attempts'>> {
  await client.query(beginSql(req.actor));
  if (req.idempotencyKey !== undefined) {
    const claim = await client.query<{ locked: boolean; receipt: Receipt | null }>(
      `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS locked,
              (SELECT row_to_json(r) FROM (
                 SELECT request_hash, status_code, response_body, response_headers
                 FROM write_receipts WHERE caller_id = $2 AND key = $3) r) AS receipt`,
      [`${req.actor.orgId}/${caller}/${key}`, caller, key],
    );
    const { locked, receipt } = claim.rows[0];
    if (!locked) {
      throw new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed. Retry shortly.', undefined, undefined, {
        'Retry-After': '1',
      });
    }
    if (receipt) {
      await client.query('ROLLBACK');
      if (receipt.request_hash !== req.requestFingerprint) {
        throw new AppError(
          'idempotency_key_reused',
          'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
        );
      }
      return {
        status: receipt.status_code,
        body: receipt.response_body,
        headers: receipt.response_headers,
        replayed: true,
      };
    }
  }

  const tx = new Tx(client, req.actor, req.requestId, new Date().toISOString());
  const response = await work(tx);
  await recordLedger(client, tx, req, caller, key, response);
  markCommitting();
  await client.query('COMMIT');
  if (tx.events.length) deps.onCommitted?.(tx.events.map((e) => ({ id: e.id, type: e.type })));
  return { ...response, replayed: false };
}

/**
 * Outbox and receipt first, the audit chain last: the organization's chain head is
 * locked only from here to COMMIT (two round trips), so concurrent writers of one
 * organization queue for a moment, not for their whole transaction.
 */
async function recordLedger(
  client: PoolClient,
  tx: Tx,
  req: WriteRequest,
  caller: string,
  key: string,
  response: WriteResponse,
): Promise<void> {
  const org = req.actor.orgId;
  await client.query(
    `WITH ev AS (
       INSERT INTO outbox (id, organization_id, type, object, record_id, payload, request_id)
       SELECT e.id, $1, e.type, e.object, e.record_id, e.payload, $2
       FROM jsonb_to_recordset($3::jsonb) AS e(id uuid, type text, object text, record_id uuid, payload jsonb, ord integer)
       ORDER BY e.ord
     )
     INSERT INTO write_receipts (organization_id, caller_id, key, request_hash, request_id, status_code,
                                 response_body, response_headers, expires_at)
     VALUES ($1, $4, $5, $6, $2, $7, $8, $9, now() + $10::interval)`,
    [
      org,
      req.requestId,
      JSON.stringify(tx.events.map((e, ord) => ({ id: e.id, type: e.type, object: e.object, record_id: e.recordId, payload: e.payload, ord }))),
      caller,
      key,
      req.requestFingerprint,
      response.status,
      JSON.stringify(response.body ?? null),
      JSON.stringify(response.headers ?? {}),
      req.idempotencyKey === undefined ? SERVER_KEY_TTL : CLIENT_KEY_TTL,
    ],
  );
  if (tx.audits.length === 0) return;

  const head = await client.query<{ seq: string; head_hash: string }>(
    'SELECT seq, head_hash FROM audit_heads WHERE organization_id = $1 FOR UPDATE',
    [org],
  );
  if (head.rowCount === 0) throw new Error(`audit chain head missing for organization ${org}`);
  let seq = Number(head.rows[0].seq);
  let prev = head.rows[0].head_hash;
  const rows: Record<string, unknown>[] = [];
  for (const a of tx.audits) {
    seq += 1;
    const entry: AuditEntry = {
      seq,
      id: uuidv7(),
      at: tx.at,
      actorId: req.actor.userId,
      actorType: req.actor.kind,
      requestId: req.requestId,
      object: a.object,
      recordId: a.recordId,
      action: a.action,
      changes: a.changes,
      context: a.context ?? (req.actor.apiKeyId ? { apiKeyId: req.actor.apiKeyId } : {}),
    };
    const hash = chainHash(prev, entry);
    rows.push({ ...entry, prevHash: prev, hash });
    prev = hash;
  }
  await client.query(
    `WITH ins AS (
       INSERT INTO audit_log (organization_id, seq, id, at, actor_id, actor_type, request_id, object, record_id,
                              action, changes, context, prev_hash, hash)
       SELECT $1, a.seq, a.id, a.at, a."actorId", a."actorType", a."requestId", a.object, a."recordId",
              a.action, a.changes, a.context, a."prevHash", a.hash
       FROM jsonb_to_recordset($2::jsonb) AS a(seq bigint, id uuid, at timestamptz, "actorId" uuid, "actorType" text,
            "requestId" text, object text, "recordId" uuid, action text, changes jsonb, context jsonb,
            "prevHash" text, hash text)
     )
     UPDATE audit_heads SET seq = $3, head_hash = $4 WHERE organization_id = $1`,
    [org, JSON.stringify(rows), seq, prev],
  );
}

async function findReceipt(pool: Pool, actor: Actor, caller: string, key: string): Promise<Receipt | undefined> {
  const client = await pool.connect();
  try {
    await client.query(beginSql(actor, true));
    const res = await client.query<Receipt>(
      'SELECT request_hash, status_code, response_body, response_headers FROM write_receipts WHERE caller_id = $1 AND key = $2',
      [caller, key],
    );
    await client.query('COMMIT');
    client.release();
    return res.rows[0];
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
}
