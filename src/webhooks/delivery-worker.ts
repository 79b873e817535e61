import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { BackgroundLoop, errorText } from '../events/background-loop.ts';
import type { Doorbell } from '../events/doorbell.ts';
import type { DurableConsumer, RelayLog } from '../events/relay.ts';
import { type DomainEvent, eventEnvelope } from '../events/types.ts';
import { CircuitBreakers } from './circuit-breaker.ts';
import { signatureHeader } from './signature.ts';

export interface DeliveryWorkerOptions {
  pool: Pool;
  /** Per request, connect to last byte of the response head. */
  timeoutMs: number;
  /** Retries after the first attempt; then the delivery is dead-lettered. */
  maxRetries: number;
  /** Retry n waits about base * 4^(n-1), with jitter. */
  retryBaseMs: number;
  /** Requests in flight from this process, all endpoints together. */
  concurrency: number;
  /** Requests in flight from this process to one endpoint (a bulkhead). */
  endpointConcurrency: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
  pollMs: number;
  doorbell?: Doorbell;
  log?: RelayLog;
  now?: () => number;
}

interface Job {
  organization_id: string;
  id: string;
  subscription_id: string;
  url: string;
  secret: string;
  attempt: number;
  round_attempt: number;
  event_id: string;
  event_type: string;
  object: string;
  record_id: string;
  payload: DomainEvent['payload'];
  request_id: string;
  created_at: Date;
}

interface Outcome {
  ok: boolean;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
}

/**
 * Sends webhook deliveries, which are jobs in PostgreSQL: leased with SKIP LOCKED (several
 * workers on several nodes share them; a lease that expires because a worker died makes the
 * job due again), POSTed with a signature and a timeout, retried with exponential backoff and
 * jitter, then dead-lettered. Each endpoint has a circuit breaker and a concurrency cap, so a
 * dead or slow integration holds neither the other endpoints nor the API.
 */
export class DeliveryWorker extends BackgroundLoop {
  readonly breakers: CircuitBreakers;
  private readonly opts: DeliveryWorkerOptions;
  private readonly inflight = new Set<Promise<void>>();
  private readonly perEndpoint = new Map<string, number>();

  constructor(opts: DeliveryWorkerOptions) {
    super(opts.doorbell);
    this.opts = opts;
    this.breakers = new CircuitBreakers({ threshold: opts.breakerThreshold, cooldownMs: opts.breakerCooldownMs, now: opts.now });
  }

  /** Claims while there is room; stop() lets requests in flight finish (each is bounded by the timeout). */
  protected async loop(): Promise<void> {
    while (!this.stopping) {
      const free = this.opts.concurrency - this.inflight.size;
      if (free > 0) {
        try {
          const jobs = await this.claim(free);
          this.failures = 0;
          for (const job of jobs) this.launch(job);
          if (jobs.length > 0 && jobs.length === free) continue;
        } catch (err) {
          await this.backOff(err, 'webhooks: claiming deliveries failed; backing off', this.opts.log);
          continue;
        }
      }
      await this.doorbell.wait(this.opts.pollMs);
    }
    await Promise.allSettled([...this.inflight]);
  }

  private async claim(limit: number): Promise<Job[]> {
    const exclude = new Set(this.breakers.blocked());
    for (const [sub, n] of this.perEndpoint) if (n >= this.opts.endpointConcurrency) exclude.add(sub);
    const res = await this.opts.pool.query<Job>('SELECT * FROM basalt_webhooks_claim($1, $2, $3::uuid[])', [
      limit,
      this.opts.timeoutMs + 30_000,
      [...exclude],
    ]);
    return res.rows;
  }

  private launch(job: Job): void {
    const sub = job.subscription_id;
    if ((this.perEndpoint.get(sub) ?? 0) >= this.opts.endpointConcurrency) {
      this.track(this.release(job, 0));
      return;
    }
    if (!this.breakers.tryAcquire(sub)) {
      this.track(this.release(job, this.breakers.retryAt(sub) - (this.opts.now ?? Date.now)()));
      return;
    }
    this.perEndpoint.set(sub, (this.perEndpoint.get(sub) ?? 0) + 1);
    this.track(
      this.deliver(job).finally(() => {
        const n = (this.perEndpoint.get(sub) ?? 1) - 1;
        if (n <= 0) this.perEndpoint.delete(sub);
        else this.perEndpoint.set(sub, n);
      }),
    );
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((err: unknown) => this.opts.log?.warn({ err: errorText(err) }, 'webhooks: recording a delivery failed; it will be retried'))
      .finally(() => {
        this.inflight.delete(tracked);
        this.doorbell.ring();
      });
    this.inflight.add(tracked);
  }

  private async deliver(job: Job): Promise<void> {
    const generation = this.breakers.generation(job.subscription_id);
    const outcome = await this.send(job);
    if (outcome.ok) this.breakers.success(job.subscription_id, generation);
    else this.breakers.failure(job.subscription_id, generation);
    await this.record(job, outcome);
  }

  private async send(job: Job): Promise<Outcome> {
    const body = JSON.stringify(
      eventEnvelope({
        id: job.event_id,
        organizationId: job.organization_id,
        type: job.event_type,
        object: job.object,
        recordId: job.record_id,
        payload: job.payload,
        requestId: job.request_id,
        createdAt: job.created_at,
      }),
    );
    const startedAt = new Date();
    const t = Math.floor(startedAt.getTime() / 1000);
    let responseStatus: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(job.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Basalt-Webhooks/1',
          'x-basalt-event-id': job.event_id,
          'x-basalt-event-type': job.event_type,
          'x-basalt-delivery-id': job.id,
          'x-basalt-delivery-attempt': String(job.attempt),
          'x-basalt-signature': signatureHeader(job.secret, body, t),
        },
      });
      responseStatus = res.status;
      await res.body?.cancel().catch(() => {});
      if (res.status >= 300 && res.status < 400) error = `redirect (${res.status}) not followed`;
      else if (res.status >= 400) error = `HTTP ${res.status}`;
    } catch (err) {
      error = fetchErrorText(err, this.opts.timeoutMs);
    }
    return { ok: error === null, startedAt, durationMs: Date.now() - startedAt.getTime(), responseStatus, error };
  }

  private async record(job: Job, o: Outcome): Promise<void> {
    const dead = !o.ok && job.round_attempt > this.opts.maxRetries;
    const retryInMs = o.ok || dead ? null : retryDelayMs(job.round_attempt, this.opts.retryBaseMs);
    const status = o.ok ? 'succeeded' : dead ? 'dead' : 'pending';
    await withTenant(this.opts.pool, { orgId: job.organization_id }, (c) =>
      c.query(
        `WITH d AS (
           UPDATE webhook_deliveries SET
             status = $3, attempts = $4, round_attempts = $5, lease_until = NULL,
             next_attempt_at = CASE WHEN $6::integer IS NULL THEN next_attempt_at ELSE now() + $6 * interval '1 millisecond' END,
             last_response_status = $7, last_error = $8, updated_at = now(),
             delivered_at = CASE WHEN $3 = 'succeeded' THEN now() ELSE delivered_at END,
             dead_at = CASE WHEN $3 = 'dead' THEN now() ELSE NULL END
           WHERE organization_id = $1 AND id = $2 AND status = 'pending'
           RETURNING next_attempt_at)
         INSERT INTO webhook_attempts (organization_id, delivery_id, attempt, started_at, duration_ms, outcome,
                                       response_status, error, next_attempt_at)
         SELECT $1, $2, $4, $9, $10, $11, $7, $8, CASE WHEN $3 = 'pending' THEN d.next_attempt_at END FROM d
         ON CONFLICT DO NOTHING`,
        [
          job.organization_id,
          job.id,
          status,
          job.attempt,
          job.round_attempt,
          retryInMs,
          o.responseStatus,
          o.error,
          o.startedAt,
          o.durationMs,
          o.ok ? 'succeeded' : 'failed',
        ],
      ),
    );
    if (!o.ok) {
      this.opts.log?.warn(
        { deliveryId: job.id, url: job.url, attempt: job.attempt, error: o.error, dead },
        dead ? 'webhook delivery dead-lettered' : 'webhook delivery failed; will retry',
      );
    }
  }

  /** Gives a leased job back untouched (no attempt spent), due again after delayMs. */
  private async release(job: Job, delayMs: number): Promise<void> {
    await withTenant(this.opts.pool, { orgId: job.organization_id }, (c) =>
      c.query(
        `UPDATE webhook_deliveries SET lease_until = NULL,
           next_attempt_at = greatest(next_attempt_at, now() + $3 * interval '1 millisecond')
         WHERE organization_id = $1 AND id = $2 AND status = 'pending'`,
        [job.organization_id, job.id, Math.max(0, Math.ceil(delayMs))],
      ),
    );
  }
}

/** Retry n (1-based) waits between half and all of base * 4^(n-1): exponential, with jitter. */
export function retryDelayMs(retry: number, baseMs: number): number {
  const ceiling = baseMs * 4 ** (retry - 1);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function fetchErrorText(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timed out after ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  const code = cause && typeof cause === 'object' ? (cause as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return `connection failed: ${code}`;
  const message = cause instanceof Error ? cause.message : errorText(err);
  return message.slice(0, 500);
}

/** The relay's durable consumer: one delivery job per (event, matching subscription). */
export function webhookConsumer(doorbell: Doorbell): DurableConsumer {
  return {
    name: 'webhooks',
    async enqueue(client, seqs) {
      await client.query('SELECT basalt_webhooks_enqueue($1::bigint[])', [seqs]);
    },
    committed: () => doorbell.ring(),
  };
}
