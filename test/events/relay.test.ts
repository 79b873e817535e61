import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { EventBus } from '../../src/events/bus.ts';
import { JetStreamTarget } from '../../src/events/jetstream.ts';
import { type EventTarget, OutboxRelay } from '../../src/events/relay.ts';
import type { DomainEvent } from '../../src/events/types.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { backlog, byRecord, churn, deleteStream, outboxEvents, readStream, SHARED_NATS, uniqueStream, waitFor } from './support.ts';

let t: TestApp;
const streams: string[] = [];
const pools: Pool[] = [];

beforeAll(async () => {
  t = await startTestApp();
  // DROP DATABASE ... WITH (FORCE) at close may end a superuser connection the pool still holds.
  t.admin.on('error', () => {});
});
afterAll(async () => {
  for (const s of streams) await deleteStream(SHARED_NATS, s);
  for (const p of pools) await p.end();
  await t?.close();
});

function jetstreamFor(): { target: JetStreamTarget; stream: string } {
  const { stream, subjectPrefix } = uniqueStream();
  streams.push(stream);
  return {
    stream,
    target: new JetStreamTarget({ servers: SHARED_NATS, stream, subjectPrefix, replicas: 1, duplicateWindowMs: 120_000 }),
  };
}

/** Everything not yet published is marked, so each test starts from an empty backlog. */
async function settleOutbox(): Promise<void> {
  await t.admin.query('UPDATE outbox SET published_at = now() WHERE published_at IS NULL');
}

function relayPool(name: string): Pool {
  const pool = createPool({ url: t.appUrl, max: 3, connectTimeoutMs: 3000, applicationName: name });
  pools.push(pool);
  return pool;
}

describe('outbox relay', () => {
  it('publishes every outbox event to JetStream exactly as written, in order per record', async () => {
    await settleOutbox();
    const before = new Set((await outboxEvents(t)).map((e) => e.id));
    await churn(t, 15, 'js');
    const written = (await outboxEvents(t)).filter((e) => !before.has(e.id));
    expect(written.length).toBe(15 * 3 + 5);

    const { target, stream } = jetstreamFor();
    const relay = new OutboxRelay({ pool: t.pool, targets: [target], batchSize: 7 });
    await relay.drain();
    await target.close();
    expect(await backlog(t.pool)).toBe(0);

    const messages = await readStream(SHARED_NATS, stream);
    expect(messages.map((m) => m.msgId).sort()).toEqual(written.map((e) => e.id).sort());
    const byId = new Map(written.map((e) => [e.id, e]));
    for (const m of messages) {
      const e = byId.get(m.body.id as string);
      expect(e, 'message for an outbox event').toBeDefined();
      if (!e) continue;
      expect(m.msgId).toBe(e.id);
      expect(m.subject).toBe(`${uniquePrefixOf(m.subject)}.${e.organization_id}.${e.object}.${e.type}`);
      expect(m.body).toEqual({
        id: e.id,
        type: e.type,
        createdAt: e.created_at.toISOString(),
        organizationId: e.organization_id,
        object: e.object,
        recordId: e.record_id,
        requestId: e.request_id,
        data: e.payload,
      });
    }
    const streamOrder = byRecord(messages, (m) => m.body.recordId as string, (m) => m.msgId as string);
    const outboxOrder = byRecord(written, (e) => e.record_id, (e) => e.id);
    expect(streamOrder).toEqual(outboxOrder);
  });

  it('delivers to in-process consumers (the embedded default), in order per record', async () => {
    await settleOutbox();
    const bus = new EventBus();
    const seen: DomainEvent[] = [];
    bus.subscribe((e) => {
      seen.push(e);
    });
    const created: DomainEvent[] = [];
    bus.subscribe((e) => {
      created.push(e);
    }, ['record.created']);
    const relay = new OutboxRelay({ pool: t.pool, targets: [{ name: 'bus', publish: (e) => bus.publish(e) }], pollMs: 20 }).start();
    try {
      const before = new Set((await outboxEvents(t)).map((e) => e.id));
      await churn(t, 6, 'bus');
      const written = (await outboxEvents(t)).filter((e) => !before.has(e.id));
      await waitFor('bus to see every event', () => written.every((e) => seen.some((s) => s.id === e.id)));
      expect(byRecord(seen, (e) => e.recordId, (e) => e.id)).toEqual(byRecord(written, (e) => e.record_id, (e) => e.id));
      expect(created.map((e) => e.type)).toEqual(Array(6).fill('record.created'));
    } finally {
      await relay.stop();
    }
  });

  it('two relays running concurrently publish each event once, in order per record', async () => {
    await settleOutbox();
    const { target, stream } = jetstreamFor();
    const calls: { relay: string; event: DomainEvent }[] = [];
    const counting = (relay: string): EventTarget => ({
      name: `count-${relay}`,
      async publish(event) {
        calls.push({ relay, event });
        await target.publish(event);
      },
    });
    const relays = ['a', 'b'].map((name) =>
      new OutboxRelay({ pool: relayPool(`relay-${name}`), targets: [counting(name)], batchSize: 5, pollMs: 5 }).start(),
    );
    const before = new Set((await outboxEvents(t)).map((e) => e.id));
    await Promise.all([churn(t, 20, 'duo-1'), churn(t, 20, 'duo-2')]);
    const written = (await outboxEvents(t)).filter((e) => !before.has(e.id));
    await waitFor('backlog to drain', async () => (await backlog(t.pool)) === 0);
    await Promise.all(relays.map((r) => r.stop()));
    await target.close();

    const counts = new Map<string, number>();
    for (const c of calls) counts.set(c.event.id, (counts.get(c.event.id) ?? 0) + 1);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const lost = written.filter((e) => !counts.has(e.id)).length;
    const perRelay = { a: calls.filter((c) => c.relay === 'a').length, b: calls.filter((c) => c.relay === 'b').length };
    console.log(`[two relays] events=${written.length} published=${calls.length} byRelay=${JSON.stringify(perRelay)} duplicates=${duplicates} lost=${lost}`);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    expect(calls.length).toBe(written.length);
    expect(byRecord(calls, (c) => c.event.recordId, (c) => c.event.id)).toEqual(byRecord(written, (e) => e.record_id, (e) => e.id));
    const messages = await readStream(SHARED_NATS, stream);
    expect(messages.length).toBe(written.length);
  });

  it('a relay killed mid-batch loses nothing: another relay takes its events over', async () => {
    await settleOutbox();
    const { target, stream } = jetstreamFor();
    const before = new Set((await outboxEvents(t)).map((e) => e.id));
    await churn(t, 12, 'kill');
    const written = (await outboxEvents(t)).filter((e) => !before.has(e.id));

    // Relay A publishes a few events, then hangs (as a frozen or dying process would) ...
    const publishedByA: string[] = [];
    let hang!: () => void;
    const hung = new Promise<void>((resolve) => {
      hang = resolve;
    });
    let hanging = false;
    const dying: EventTarget = {
      name: 'dying',
      async publish(event) {
        if (publishedByA.length >= 10) {
          hanging = true;
          await hung;
          throw new Error('relay A is gone');
        }
        await target.publish(event);
        publishedByA.push(event.id);
      },
    };
    const relayA = new OutboxRelay({ pool: relayPool('relay-dying'), targets: [dying], batchSize: 1000, pollMs: 10_000 }).start();
    await waitFor('relay A to be mid-batch', () => hanging);
    // ... and its process dies: the server ends its session, rolling its claim back.
    const killed = await t.admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'relay-dying' AND state <> 'idle'`,
    );
    expect(killed.rowCount).toBeGreaterThan(0);

    const publishedByB: string[] = [];
    const relayB = new OutboxRelay({
      pool: relayPool('relay-survivor'),
      targets: [
        {
          name: 'survivor',
          async publish(event) {
            await target.publish(event);
            publishedByB.push(event.id);
          },
        },
      ],
      pollMs: 10,
    }).start();
    await waitFor('relay B to publish the backlog', async () => (await backlog(t.pool)) === 0);
    hang();
    await Promise.all([relayA.stop(), relayB.stop()]);
    await target.close();

    const messages = await readStream(SHARED_NATS, stream);
    const inStream = new Set(messages.map((m) => m.msgId));
    const lost = written.filter((e) => !inStream.has(e.id)).length;
    const republished = publishedByA.filter((id) => publishedByB.includes(id)).length;
    console.log(
      `[relay killed mid-batch] events=${written.length} publishedByA=${publishedByA.length} publishedByB=${publishedByB.length} ` +
        `republished=${republished} inStream=${messages.length} duplicatesInStream=${messages.length - inStream.size} lost=${lost}`,
    );
    expect(lost).toBe(0);
    // A's publishes were never marked: B sent them again, and JetStream dropped them by Nats-Msg-Id.
    expect(republished).toBe(publishedByA.length);
    expect(messages.length).toBe(written.length);
    expect(byRecord(messages, (m) => m.body.recordId as string, (m) => m.msgId as string)).toEqual(
      byRecord(written, (e) => e.record_id, (e) => e.id),
    );
  });

  it('a failing target is retried with backoff; the events are not lost and the relay keeps running', async () => {
    await settleOutbox();
    const bus = new EventBus();
    const seen = new Map<string, number>();
    let failuresLeft = 3;
    bus.subscribe((e) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw new Error('consumer temporarily down');
      }
      seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
    });
    const relay = new OutboxRelay({ pool: t.pool, targets: [{ name: 'bus', publish: (e) => bus.publish(e) }], pollMs: 20 }).start();
    try {
      const before = new Set((await outboxEvents(t)).map((e) => e.id));
      await churn(t, 3, 'flaky');
      const written = (await outboxEvents(t)).filter((e) => !before.has(e.id));
      await waitFor('every event to be consumed', () => written.every((e) => seen.has(e.id)));
      expect(failuresLeft).toBe(0);
      // Consumed first, marked published in the outbox right after: wait for the mark.
      await waitFor('the relay to mark every event published', async () => (await backlog(t.pool)) === 0);
    } finally {
      await relay.stop();
    }
  });
});

function uniquePrefixOf(subject: string): string {
  return subject.split('.').slice(0, 2).join('.');
}
