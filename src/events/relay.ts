import type { Pool, PoolClient } from '../db/pool.ts';
import { BackgroundLoop, errorText } from './background-loop.ts';
import type { Doorbell } from './doorbell.ts';
import type { DomainEvent } from './types.ts';

/** Where the relay sends events (JetStream, the in-process bus). Must be idempotent by event id. */
export interface EventTarget {
  readonly name: string;
  publish(event: DomainEvent): Promise<void>;
}

/**
 * A consumer that records its work in PostgreSQL, in the relay's transaction, for the
 * events being marked published (webhooks: one delivery job per matching subscription).
 */
export interface DurableConsumer {
  readonly name: string;
  enqueue(client: PoolClient, seqs: string[]): Promise<void>;
  /** Called after the relay's transaction committed work for this consumer. */
  committed?(): void;
}

export interface RelayLog {
  warn: (obj: object, msg: string) => void;
  info: (obj: object, msg: string) => void;
}

export interface RelayOptions {
  pool: Pool;
  targets: EventTarget[];
  consumers?: DurableConsumer[];
  batchSize?: number;
  /** Poll interval: the relay also wakes on its doorbell (rung after each commit). */
  pollMs?: number;
  /**
   * A claimed batch holds row locks; if this relay hangs (frozen process, partition) the
   * server ends its transaction after this long, and another relay takes the events over.
   */
  leaseMs?: number;
  doorbell?: Doorbell;
  log?: RelayLog;
  /** Called with each batch that was published and marked (tests, metrics). */
  onBatch?: (published: DomainEvent[]) => void;
}

interface OutboxRow {
  seq: string;
  id: string;
  organization_id: string;
  type: string;
  object: string;
  record_id: string;
  payload: DomainEvent['payload'];
  request_id: string;
  created_at: Date;
}

/**
 * The transactional outbox relay. Each batch, in one transaction: claim unpublished events
 * (row locks, SKIP LOCKED, never an event whose record has an earlier one outside the claim),
 * publish them — records concurrently, each record's events one after another — then enqueue
 * durable consumers' work and mark the published events. An event whose publish failed stays
 * unpublished with every later event of its record, and is retried after a backoff. A relay
 * that dies mid-batch rolls back: its events are claimed again and republished (duplicates
 * carry the same event id). Runs inside the app process; never throws out of its loop.
 */
export class OutboxRelay extends BackgroundLoop {
  private readonly opts: Required<Omit<RelayOptions, 'onBatch' | 'log' | 'doorbell' | 'consumers'>> &
    Pick<RelayOptions, 'onBatch' | 'log'> & { consumers: DurableConsumer[] };
  constructor(opts: RelayOptions) {
    super(opts.doorbell);
    this.opts = {
      batchSize: 200,
      pollMs: 1000,
      leaseMs: 30_000,
      consumers: [],
      ...opts,
    };
  }

  /** Runs batches until the outbox has nothing claimable (tests, tooling). Returns events published. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { claimed, published } = await this.relayBatch();
      total += published;
      if (claimed === 0 || published === 0) return total;
    }
  }

  protected async loop(): Promise<void> {
    while (!this.stopping) {
      let full = false;
      try {
        const { claimed, published } = await this.relayBatch();
        if (published < claimed) throw new Error(`${claimed - published} of ${claimed} events could not be published`);
        this.failures = 0;
        full = claimed === this.opts.batchSize;
      } catch (err) {
        await this.backOff(err, 'outbox relay: batch failed; backing off', this.opts.log);
        continue;
      }
      if (!full) await this.doorbell.wait(this.opts.pollMs);
    }
  }

  private async relayBatch(): Promise<{ claimed: number; published: number }> {
    const client = await this.opts.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(
        `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1000, Math.floor(this.opts.leaseMs))}`,
      );
      const rows = await client.query<OutboxRow>('SELECT * FROM basalt_outbox_claim($1)', [this.opts.batchSize]);
      const events = rows.rows.map(toEvent);
      const published = events.length ? await this.publishAll(events) : [];
      if (published.length) {
        const seqs = published.map((e) => e.seq);
        for (const c of this.opts.consumers) await c.enqueue(client, seqs);
        await client.query('SELECT basalt_outbox_mark_published($1::bigint[])', [seqs]);
      }
      await client.query('COMMIT');
      if (published.length) {
        for (const c of this.opts.consumers) c.committed?.();
        this.opts.onBatch?.(published);
      }
      return { claimed: events.length, published: published.length };
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** Publishes to every target; returns the events that reached all of them. */
  private async publishAll(events: DomainEvent[]): Promise<DomainEvent[]> {
    const byRecord = new Map<string, DomainEvent[]>();
    for (const e of events) {
      const list = byRecord.get(e.recordId);
      if (list) list.push(e);
      else byRecord.set(e.recordId, [e]);
    }
    const done = new Set<string>();
    let firstError: unknown;
    await Promise.all(
      [...byRecord.values()].map(async (chain) => {
        for (const e of chain) {
          try {
            for (const target of this.opts.targets) await target.publish(e);
            done.add(e.id);
          } catch (err) {
            firstError ??= err;
            return; // later events of this record wait for this one
          }
        }
      }),
    );
    if (firstError !== undefined) {
      this.opts.log?.warn({ err: errorText(firstError), failed: events.length - done.size }, 'outbox relay: publish failed');
    }
    return events.filter((e) => done.has(e.id));
  }
}

function toEvent(r: OutboxRow): DomainEvent {
  return {
    id: r.id,
    seq: String(r.seq),
    organizationId: r.organization_id,
    type: r.type,
    object: r.object,
    recordId: r.record_id,
    payload: r.payload,
    requestId: r.request_id,
    createdAt: r.created_at,
  };
}

