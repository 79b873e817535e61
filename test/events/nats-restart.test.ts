import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamTarget } from '../../src/events/jetstream.ts';
import { OutboxRelay } from '../../src/events/relay.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { backlog, byRecord, OwnNatsServer, outboxEvents, readStream, uniqueStream, waitFor } from './support.ts';

let t: TestApp;
let nats: OwnNatsServer;

beforeAll(async () => {
  nats = await OwnNatsServer.start();
  t = await startTestApp();
  // DROP DATABASE ... WITH (FORCE) at close may end a superuser connection the pool still holds.
  t.admin.on('error', () => {});
});
afterAll(async () => {
  await t?.close();
  await nats?.stop();
});

describe('NATS restart mid-load (fault injection)', () => {
  it('every outbox event reaches the stream at least once, deduplicable by id; none is lost', { timeout: 180_000 }, async () => {
    const { stream, subjectPrefix } = uniqueStream();
    const target = new JetStreamTarget({
      servers: nats.url,
      stream,
      subjectPrefix,
      replicas: 1,
      duplicateWindowMs: 600_000,
      publishTimeoutMs: 1000,
    });
    const published: string[] = [];
    const relayWarnings: string[] = [];
    const relay = new OutboxRelay({
      pool: t.pool,
      targets: [target],
      doorbell: t.server.events.relayDoorbell,
      pollMs: 20,
      batchSize: 50,
      onBatch: (events) => published.push(...events.map((e) => e.id)),
      log: { info: () => {}, warn: (_obj, msg) => relayWarnings.push(msg) },
    }).start();

    // Load: writers create accounts and update each once, recording every request and acknowledgement.
    const load = { requests: 0, acks: 0, errors: 0, running: true };
    const acked: string[] = [];
    const writer = async (w: number) => {
      for (let i = 0; load.running; i++) {
        load.requests++;
        const c = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `nats-${w}-${i}` } }).catch(() => undefined);
        if (c?.status !== 201) {
          load.errors++;
          continue;
        }
        load.acks++;
        acked.push(c.body.id);
        load.requests++;
        const p = await t
          .request('PATCH', `/api/v1/accounts/${c.body.id}`, { token: t.org.token, body: { phone: `+1 555 ${i}` }, headers: { 'if-match': '"1"' } })
          .catch(() => undefined);
        if (p?.status === 200) load.acks++;
        else load.errors++;
      }
    };
    const writers = Array.from({ length: 6 }, (_, w) => writer(w));
    const acksAfter = async (n: number) => {
      const goal = load.acks + n;
      await waitFor(`${n} more acknowledged writes`, () => load.acks >= goal, { timeoutMs: 60_000 });
    };

    await waitFor('events flowing to NATS', () => published.length >= 100, { timeoutMs: 60_000 });
    await nats.kill();
    const publishedAtKill = published.length;
    await acksAfter(150); // writes keep succeeding while NATS is down: the outbox holds their events
    const backlogWhileDown = await waitFor('a backlog while NATS is down', async () => {
      const n = await backlog(t.pool);
      return n >= 100 ? n : undefined;
    });
    await waitFor('the relay to fail publishing and retry', () => relayWarnings.length >= 4);
    const publishedWhileDown = published.length - publishedAtKill;
    const failuresWhileDown = relayWarnings.length;
    await nats.restart(); // same port, same store directory
    await acksAfter(100);
    load.running = false;
    await Promise.all(writers);

    await waitFor('the relay to publish the whole backlog', async () => (await backlog(t.pool)) === 0, { timeoutMs: 90_000 });
    await relay.stop();
    await target.close();

    const written = await outboxEvents(t);
    const messages = await readStream(nats.url, stream);
    const inStream = new Set(messages.map((m) => m.msgId));
    const lost = written.filter((e) => !inStream.has(e.id)).length;
    const duplicatesInStream = messages.length - inStream.size;
    const createdInOutbox = new Set(written.filter((e) => e.type === 'record.created').map((e) => e.record_id));
    const ackedMissing = acked.filter((id) => !createdInOutbox.has(id)).length;
    console.log(
      `[NATS restart mid-load] requests=${load.requests} acks=${load.acks} clientErrors=${load.errors} events=${written.length} ` +
        `backlogWhileDown=${backlogWhileDown} relayFailuresWhileDown=${failuresWhileDown} publishedWhileDown=${publishedWhileDown} published=${published.length} inStream=${messages.length} ` +
        `duplicatesInStream=${duplicatesInStream} lost=${lost} ackedWritesWithoutEvent=${ackedMissing}`,
    );
    expect(load.errors).toBe(0);
    expect(ackedMissing).toBe(0);
    expect(lost).toBe(0);
    expect(failuresWhileDown).toBeGreaterThan(0);
    // First sighting of each id, per record, follows the outbox order.
    const seen = new Set<string | undefined>();
    const firstSeen = messages.filter((m) => !seen.has(m.msgId) && seen.add(m.msgId));
    expect(byRecord(firstSeen, (m) => m.body.recordId as string, (m) => m.msgId as string)).toEqual(
      byRecord(written, (e) => e.record_id, (e) => e.id),
    );
  });
});
