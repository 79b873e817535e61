import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { sleep } from '../cluster/proc.ts';
import { STREAM } from '../cluster/topology.ts';

/** Message ids (Nats-Msg-Id) in the stream on subjects matching `filter`, with their counts. */
export async function streamIds(servers: string[], filter: string): Promise<Map<string, number>> {
  // Right after a fault the stream may still be electing a leader or catching a restarted
  // node up: a read that times out is tried again (the whole read: counts start from zero).
  for (let attempt = 1; ; attempt++) {
    try {
      return await readStreamIds(servers, filter);
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(2000);
    }
  }
}

async function readStreamIds(servers: string[], filter: string): Promise<Map<string, number>> {
  const nc = await connect({ servers, timeout: 3000 });
  const counts = new Map<string, number>();
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(STREAM, { filter_subjects: filter });
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 1500 });
      let n = 0;
      for await (const m of batch) {
        n++;
        const id = m.headers?.get('Nats-Msg-Id') || m.subject + m.seq;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      if (n === 0) break;
    }
  } finally {
    await nc.close();
  }
  return counts;
}

/**
 * A publisher of our own through the event stream during a NATS fault: one message every
 * `everyMs` with a unique Nats-Msg-Id, each retried with the same id until acknowledged.
 */
export class StreamProbe {
  readonly acked: string[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  readonly subject: string;
  private readonly servers: string[];
  constructor(servers: string[], runId: string) {
    this.servers = servers;
    this.subject = `basalt.events._chaos.${runId}`;
  }
  start(everyMs = 50): void {
    this.running = true;
    this.loop = (async () => {
      const nc: NatsConnection = await connect({ servers: this.servers, maxReconnectAttempts: -1, reconnectTimeWait: 200, timeout: 3000 });
      const js = jetstream(nc);
      let n = 0;
      while (this.running) {
        const id = `${this.subject}.${++n}`;
        const until = Date.now() + 30_000;
        while (Date.now() < until) {
          try {
            await js.publish(this.subject, JSON.stringify({ n }), { msgID: id, timeout: 2000 });
            this.acked.push(id);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        await new Promise((r) => setTimeout(r, everyMs));
      }
      await nc.close();
    })();
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/**
 * Outbox → stream: every event the outbox holds for the given records must be in the stream
 * exactly once (by Nats-Msg-Id = event id), once the relay has published it.
 * Returns undefined when no relay publishes to NATS (nothing of the run was ever published).
 */
export async function outboxToStream(
  dbUrl: string,
  servers: string[],
  recordIds: string[],
  waitMs: number,
): Promise<{ expected: number; lost: number; duplicated: number; unpublished: number } | undefined> {
  if (recordIds.length === 0) return undefined;
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const until = Date.now() + waitMs;
    let rows: { id: string; organization_id: string; published: boolean }[] = [];
    for (;;) {
      rows = (
        await c.query<{ id: string; organization_id: string; published: boolean }>(
          'SELECT id::text, organization_id::text, published_at IS NOT NULL AS published FROM outbox WHERE record_id = ANY($1::uuid[])',
          [recordIds],
        )
      ).rows;
      if (rows.length && rows.every((r) => r.published)) break;
      if (Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (!rows.some((r) => r.published)) return undefined;
    const ids = await streamIds(servers, `basalt.events.${rows[0].organization_id}.>`);
    let lost = 0;
    let duplicated = 0;
    for (const r of rows) {
      const n = ids.get(r.id) ?? 0;
      if (r.published && n === 0) lost++;
      if (n > 1) duplicated += n - 1;
    }
    const unpublished = rows.filter((r) => !r.published).length;
    return { expected: rows.length, lost: lost + unpublished, duplicated, unpublished };
  } finally {
    await c.end();
  }
}
