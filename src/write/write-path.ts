import { createHash, randomUUID } from 'node:crypto';
import { newId } from '../ids.ts';
import type { QueryResult } from 'pg';
import { type AuditEntry, canonicalJson, canonicalWithoutSeq } from '../audit/chain.ts';
import { type Actor, callerId } from '../auth/actor.ts';
import { type Pool, type PoolClient, quoteLiteral } from '../db/pool.ts';
import { CommitNotReplicated, replicatedCommit } from '../db/sync-commit.ts';
import { beginSql, forgetTenantMetadata, openTenantSql, rememberTenantMetadata } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import type { Json } from '../objects/field-types.ts';
import { backoffMs, isConnectionError, isRetryable, sleep, sqlState } from './retry.ts';

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
  /**
   * When the audit entries join the organization's chain: after the commit, by a sealer (the
   * default: writers never wait for each other), or in this transaction, under the chain
   * head's lock until its commit (bulk batches of thousands of entries: one lock wait per
   * batch instead of every entry written twice). docs/decisions/0012-audit-sealing.md.
   */
  auditLinking?: 'after-commit' | 'in-transaction';
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
  /** Called after a successful commit that wrote events or audit entries, with the events (in-process consumers, the relay and the audit sealer's wake-ups). */
  onCommitted?: (events: { id: string; type: string }[]) => void;
  log?: { warn: (obj: object, msg: string) => void };
}

const CLIENT_KEY_TTL = '48 hours';
const SERVER_KEY_TTL = '1 hour';

/** Key order of the body does not matter: `{a,b}` and `{b,a}` are the same request. */
export function fingerprint(method: string, route: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${route}\n${canonicalJson(body ?? null)}`)
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
    this.events.push({ ...event, id: newId() });
  }
}

interface Receipt {
  request_hash: string;
  status_code: number;
  response_body: unknown;
  response_headers: Record<string, string>;
}

/** Our own earlier attempt may still hold the key's lock (its connection is dying): wait, do not answer 409. */
class OwnAttemptStillRunning extends Error {
  constructor() {
    super('an earlier attempt of this write still holds its idempotency lock');
    this.name = 'OwnAttemptStillRunning';
  }
}

/** COMMIT (or a statement string ending in it), and throw CommitNotReplicated when the synchronous standby has not confirmed it. */
const commitReplicated = (client: PoolClient, sql = 'COMMIT') => replicatedCommit(client, () => client.query(sql));

/** Another transaction committed a receipt with this key between our lookup and our insert. */
function isReceiptRace(err: unknown): boolean {
  return sqlState(err) === '23505' && (err as { constraint?: unknown }).constraint === 'write_receipts_pkey';
}

export async function executeWrite(
  deps: WritePathDeps,
  req: WriteRequest,
  work: (tx: WriteTx) => Promise<WriteResponse>,
): Promise<WriteResult> {
  const caller = callerId(req.actor);
  // Without a client key the server still keys the write, to resolve a lost COMMIT answer.
  const key = req.idempotencyKey ?? `server:${req.requestId}:${randomUUID()}`;
  // Once a COMMIT may have happened without us knowing, every later attempt must look for
  // the receipt before doing the work again (also for server keys).
  let commitUncertain = false;
  for (let attempt = 1; ; attempt++) {
    let client: PoolClient | undefined;
    let committing = false;
    try {
      client = await deps.pool.connect();
      const result = await attemptOnce(deps, req, client, caller, key, work, { attempt, commitUncertain }, () => {
        committing = true;
      });
      client.release();
      client = undefined;
      return { ...result, attempts: attempt };
    } catch (err) {
      if (client) await releaseAfterFailure(client, err);
      if (err instanceof AppError) throw err;
      const retryable =
        isRetryable(err) ||
        isReceiptRace(err) ||
        err instanceof OwnAttemptStillRunning ||
        err instanceof CommitNotReplicated ||
        // A statement timed out (typically queued behind a lock whose holder waits for a
        // standby that is gone): the transaction rolled back, so running it again is safe.
        sqlState(err) === '57014';
      if (!retryable) throw err;
      // Set when the attempt lost its connection (or its commit's replication) and the database
      // has since answered on a fresh one (a receipt confirmation that found none): the next
      // attempt goes at once. Backing off then only adds latency after a failover (up to the
      // cap, on top of the outage) without sparing a database that is already answering.
      // Contention (deadlocks, serialization, lock timeouts) still backs off.
      let answered = false;
      if (committing || commitUncertain || isReceiptRace(err)) {
        // The COMMIT may have happened: the receipt, written in the same transaction, says.
        // Found after one of our own COMMITs went unanswered, it is our write, not a replay.
        const ours = committing || commitUncertain;
        commitUncertain = true;
        const confirmed = await confirmReceipt(deps.pool, req.actor, caller, key).then(
          (stored) => ({ stored }),
          () => undefined,
        );
        if (confirmed?.stored) {
          if (confirmed.stored.request_hash !== req.requestFingerprint) throw keyReused();
          return { ...fromReceipt(confirmed.stored), replayed: !ours, attempts: attempt };
        }
        answered = confirmed !== undefined && (isConnectionError(err) || err instanceof CommitNotReplicated);
      }
      const wait = answered ? 0 : backoffMs(attempt);
      if (Date.now() + wait >= req.deadlineAt) {
        throw new AppError('unavailable', 'The database is unavailable; the change was not applied. Retry later.', undefined, undefined, {
          'Retry-After': '1',
        });
      }
      deps.log?.warn({ err, attempt, waitMs: wait, requestId: req.requestId }, 'write transaction failed; retrying');
      await sleep(wait);
    }
  }
}

/** A connection that failed (or could not even roll back) never goes back to the pool. */
async function releaseAfterFailure(client: PoolClient, err: unknown): Promise<void> {
  // After an unreplicated COMMIT the server may be an isolated old primary: do not reuse it.
  if (isConnectionError(err) || err instanceof CommitNotReplicated) {
    client.release(err as Error);
    return;
  }
  try {
    await client.query('ROLLBACK');
    client.release();
  } catch (rollbackErr) {
    client.release(rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr)));
  }
}

function keyReused(): AppError {
  return new AppError(
    'idempotency_key_reused',
    'This Idempotency-Key was already used with a different request. Use a new key for a new request.',
  );
}

function fromReceipt(r: Receipt): WriteResponse {
  return { status: r.status_code, body: r.response_body, headers: r.response_headers };
}

async function attemptOnce(
  deps: WritePathDeps,
  req: WriteRequest,
  client: PoolClient,
  caller: string,
  key: string,
  work: (tx: WriteTx) => Promise<WriteResponse>,
  state: { attempt: number; commitUncertain: boolean },
  markCommitting: () => void,
): Promise<Omit<WriteResult, 'attempts'>> {
  const claiming = req.idempotencyKey !== undefined || state.commitUncertain;
  // One message: BEGIN with the tenant settings, the organization's metadata version (so the
  // work may use the cached custom fields) and, for a keyed write, the key's claim.
  const open = openTenantSql(req.actor);
  let opened: QueryResult[];
  try {
    opened = (await client.query(claiming ? `${open}; ${claimKeySql(req.actor.orgId, caller, key)}` : open)) as unknown as QueryResult[];
  } catch (err) {
    if (claiming && sqlState(err) === '55P03') throw keyBusy(state.attempt); // lock_not_available
    throw err;
  }
  rememberTenantMetadata(client, deps.pool, req.actor.orgId, opened);
  try {
    const receipt = claiming ? claimOutcome(opened) : undefined;
    if (receipt) {
      if (receipt.request_hash !== req.requestFingerprint) {
        await client.query('ROLLBACK');
        throw keyReused();
      }
      // Answer from a receipt only once it is durable (see confirmReceipt).
      await client.query(TOUCH_RECEIPT_SQL, [caller, key]);
      await commitReplicated(client);
      // A receipt found after our own lost COMMIT is our own write, not a client's replay.
      return { ...fromReceipt(receipt), replayed: !state.commitUncertain };
    }

    const tx = new Tx(client, req.actor, req.requestId, new Date().toISOString());
    const response = await work(tx);
    const ledger = ledgerSql(tx, req, caller, key, response);
    markCommitting();
    // The outbox events, the write receipt and the audit entries travel with COMMIT in one
    // message. The entries are linked into the chain after the commit, by a sealer
    // (migrations/0013_audit_sealing.sql), so writers of one organization never wait for
    // each other's commit to be flushed (bulk batches link theirs here: auditLinking).
    await commitReplicated(client, `${ledger}; COMMIT`);
    if (tx.events.length || tx.audits.length) {
      try {
        deps.onCommitted?.(tx.events.map((e) => ({ id: e.id, type: e.type })));
      } catch (err) {
        // Committed is committed: a consumer's failure must not turn the answer into an error.
        deps.log?.warn({ err, requestId: req.requestId }, 'in-process event consumer failed');
      }
    }
    return { ...response, replayed: false };
  } finally {
    forgetTenantMetadata(client);
  }
}

/**
 * Takes the key's transaction-scoped lock, waiting at most KEY_LOCK_WAIT for it, then reads
 * the receipt in a separate statement of the same message: in READ COMMITTED each statement
 * gets a fresh snapshot, so a receipt committed by the transaction that held the lock just
 * before us is visible. (Reading it in the same statement as the lock used a snapshot taken
 * before the lock was granted.) The short wait covers a holder that is already gone: an api
 * node killed mid-request, whose transaction the database ends a moment later while the
 * load balancer has already retried the request elsewhere. Values are inlined as quoted
 * literals so the statements can travel with BEGIN.
 */
function claimKeySql(orgId: string, caller: string, key: string): string {
  return (
    `SET LOCAL lock_timeout = '${KEY_LOCK_WAIT}'; ` +
    `SELECT pg_advisory_xact_lock(hashtextextended(${quoteLiteral(`${orgId}/${caller}/${key}`)}, 0)); ` +
    'SET LOCAL lock_timeout = DEFAULT; ' +
    `SELECT request_hash, status_code, response_body, response_headers FROM write_receipts WHERE caller_id = ${quoteLiteral(caller)} AND key = ${quoteLiteral(key)}`
  );
}

/** How long a keyed write waits for another transaction holding its key. */
const KEY_LOCK_WAIT = '250ms';

/** The claim's answer: the stored receipt, or none (go ahead). */
function claimOutcome(results: QueryResult[]): Receipt | undefined {
  return results[results.length - 1]?.rows[0] as Receipt | undefined;
}

/** The key is still held after the wait: another request with it is running (409), or our own earlier attempt still is. */
function keyBusy(attempt: number): Error {
  if (attempt > 1) return new OwnAttemptStillRunning();
  return new AppError('idempotency_in_progress', 'A request with this Idempotency-Key is still being processed. Retry shortly.', undefined, undefined, {
    'Retry-After': '1',
  });
}

/**
 * The statements that write the outbox events, the receipt and the audit entries, sent with
 * COMMIT by the caller. Values are inlined as quoted literals (ids are checked UUIDs, the rest
 * strings and JSON) so they can travel in one simple-query message with COMMIT.
 */
function ledgerSql(tx: Tx, req: WriteRequest, caller: string, key: string, response: WriteResponse): string {
  const org = quoteLiteral(req.actor.orgId);
  const requestId = quoteLiteral(req.requestId);
  const events = quoteLiteral(
    JSON.stringify(tx.events.map((e, ord) => ({ id: e.id, type: e.type, object: e.object, record_id: e.recordId, payload: e.payload, ord }))),
  );
  const ttl = quoteLiteral(req.idempotencyKey === undefined ? SERVER_KEY_TTL : CLIENT_KEY_TTL);
  const ledger = `WITH ev AS (
       INSERT INTO outbox (id, organization_id, type, object, record_id, payload, request_id)
       SELECT e.id, ${org}::uuid, e.type, e.object, e.record_id, e.payload, ${requestId}::text
       FROM jsonb_to_recordset(${events}::jsonb) AS e(id uuid, type text, object text, record_id uuid, payload jsonb, ord integer)
       ORDER BY e.ord
     )
     INSERT INTO write_receipts (organization_id, caller_id, key, request_hash, request_id, status_code,
                                 response_body, response_headers, expires_at)
     VALUES (${org}::uuid, ${quoteLiteral(caller)}, ${quoteLiteral(key)}, ${quoteLiteral(req.requestFingerprint)}, ${requestId},
             ${Number(response.status)}, ${quoteLiteral(JSON.stringify(response.body ?? null))}::jsonb,
             ${quoteLiteral(JSON.stringify(response.headers ?? {}))}::jsonb, now() + ${ttl}::interval)`;
  if (tx.audits.length === 0) return ledger;
  // Each entry's canonical JSON without its seq: the sealer assigns seq and links the hash
  // under the chain head's lock (migrations/0013_audit_sealing.sql).
  const entries = tx.audits.map((a) => {
    const entry: Omit<AuditEntry, 'seq'> = {
      id: newId(),
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
    return { ...entry, body: canonicalWithoutSeq(entry) };
  });
  const append = req.auditLinking === 'in-transaction' ? 'basalt_append_audit_linked' : 'basalt_append_audit';
  return `${ledger}; SELECT ${append}(${org}::uuid, ${quoteLiteral(JSON.stringify(entries))}::jsonb)`;
}

/** A no-op write to a receipt: its COMMIT must replicate before the receipt may answer. */
const TOUCH_RECEIPT_SQL = 'UPDATE write_receipts SET expires_at = expires_at WHERE caller_id = $1 AND key = $2';

/**
 * Looks for the receipt of a write whose COMMIT outcome is unknown, and acknowledges it only
 * if it is durable: the receipt row is touched (a no-op UPDATE) and that transaction must
 * commit with the synchronous standby's confirmation. Synchronous replication confirms in
 * WAL order, so the earlier COMMIT is then replicated too. A read alone could find the
 * receipt on an isolated old primary (or a just-demoted one) whose commit a failover is
 * about to discard; this write blocks there instead, or fails on a standby, and is retried.
 */
async function confirmReceipt(pool: Pool, actor: Actor, caller: string, key: string): Promise<Receipt | undefined> {
  const client = await pool.connect();
  try {
    await client.query(beginSql(actor));
    const res = await client.query<Receipt>(`${TOUCH_RECEIPT_SQL} RETURNING request_hash, status_code, response_body, response_headers`, [caller, key]);
    await commitReplicated(client);
    client.release();
    return res.rows[0];
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
}
