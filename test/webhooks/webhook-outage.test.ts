import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventPipeline, startEventPipeline } from '../../src/events/pipeline.ts';
import { backlog, waitFor } from '../events/support.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { type Behaviour, WebhookTarget } from './target.ts';

let t: TestApp;
let pipeline: EventPipeline;
let receiver: WebhookTarget;

beforeAll(async () => {
  t = await startTestApp({
    BASALT_WEBHOOK_RETRY_BASE_MS: '200',
    BASALT_WEBHOOK_BREAKER_COOLDOWN_MS: '1000',
    BASALT_OUTBOX_POLL_MS: '50',
  });
  // DROP DATABASE ... WITH (FORCE) at close may end a superuser connection the pool still holds.
  t.admin.on('error', () => {});
  pipeline = startEventPipeline({ config: t.config, pool: t.pool, hub: t.server.events });
  receiver = await WebhookTarget.start();
});
afterAll(async () => {
  await pipeline?.stop();
  await receiver?.close();
  await t?.close();
});

describe('webhook target outage under load (fault injection)', () => {
  it('times out, answers 500s, then recovers: every event reaches the subscriber at least once', { timeout: 180_000 }, async () => {
    let phase: Behaviour = 'ok';
    receiver.behave = () => phase;
    const sub = await t.request('POST', '/api/v1/webhooks', { token: t.org.token, body: { url: receiver.url, events: ['*'] } });
    expect(sub.status).toBe(201);
    const webhookId = sub.body.id as string;
    const { rows: startRow } = await t.admin.query('SELECT coalesce(max(seq), 0) AS seq FROM outbox');
    const fromSeq = Number(startRow[0].seq);

    const load = { requests: 0, acks: 0, errors: 0, running: true };
    const writer = async (w: number) => {
      for (let i = 0; load.running; i++) {
        load.requests++;
        const r = await t.request('POST', '/api/v1/cases', { token: t.org.token, body: { subject: `outage-${w}-${i}` } }).catch(() => undefined);
        if (r?.status === 201) load.acks++;
        else load.errors++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const writers = Array.from({ length: 3 }, (_, w) => writer(w));
    const count = (b: Behaviour) => receiver.requests.filter((r) => r.answered === b).length;

    await waitFor('deliveries flowing', () => count('ok') >= 10);
    phase = 'hang';
    await waitFor('requests timing out', () => count('hang') >= 4);
    phase = 'error';
    await waitFor('500s', () => count('error') >= 6);
    phase = 'ok';
    const acksAtRecovery = load.acks;
    await waitFor('more writes after recovery', () => load.acks >= acksAtRecovery + 30);
    load.running = false;
    await Promise.all(writers);
    await waitFor('the relay to catch up', async () => (await backlog(t.pool)) === 0);

    const { rows: events } = await t.admin.query<{ id: string }>('SELECT id FROM outbox WHERE seq > $1 ORDER BY seq', [fromSeq]);
    const eventIds = events.map((e) => e.id);
    // Settle: every delivery either succeeded or was dead-lettered (retries exhausted during the outage).
    await waitFor(
      'every delivery to settle',
      async () => {
        const r = await t.admin.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = $1 AND status = 'pending'", [webhookId]);
        return r.rows[0].n === 0;
      },
      { timeoutMs: 90_000 },
    );
    // Dead-lettered deliveries are replayed through the API (the documented recovery path).
    const dead = await t.request('GET', `/api/v1/webhooks/${webhookId}/deliveries?status=dead&limit=500`, { token: t.org.token });
    for (const d of dead.body.data as { id: string }[]) {
      const r = await t.request('POST', `/api/v1/webhooks/${webhookId}/deliveries/${d.id}/replay`, { token: t.org.token });
      expect(r.status).toBe(202);
    }
    const delivered = () => new Set(receiver.requests.filter((r) => r.answered === 'ok').map((r) => String(r.headers['x-basalt-event-id'])));
    await waitFor('every event delivered', () => eventIds.every((id) => delivered().has(id)), { timeoutMs: 90_000 });

    const okRequests = receiver.requests.filter((r) => r.answered === 'ok').length;
    const lost = eventIds.filter((id) => !delivered().has(id)).length;
    console.log(
      `[webhook outage under load] requests=${load.requests} acks=${load.acks} clientErrors=${load.errors} events=${eventIds.length} ` +
        `targetRequests=${receiver.requests.length} timeouts=${count('hang')} http500=${count('error')} delivered=${delivered().size} ` +
        `duplicatesSeen=${okRequests - delivered().size} deadLettered=${dead.body.data.length} replayed=${dead.body.data.length} lost=${lost}`,
    );
    expect(load.errors).toBe(0);
    expect(lost).toBe(0);
    // Each delivery carries its event id: a receiver deduplicates whatever arrived twice.
    expect(receiver.requests.every((r) => typeof r.headers['x-basalt-event-id'] === 'string')).toBe(true);
  });
});
