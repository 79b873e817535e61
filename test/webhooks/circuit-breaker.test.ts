import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelay } from '../../src/events/relay.ts';
import { CircuitBreakers } from '../../src/webhooks/circuit-breaker.ts';
import { DeliveryWorker, webhookConsumer } from '../../src/webhooks/delivery-worker.ts';
import { waitFor } from '../events/support.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { WebhookTarget } from './target.ts';

const THRESHOLD = 3;
const ENDPOINT_CONCURRENCY = 2;
const COOLDOWN_MS = 60_000;

let t: TestApp;
let relay: OutboxRelay;
let worker: DeliveryWorker;
/** The worker's clock runs ahead by this much: the test lets the cooldown pass without waiting for it. */
let skewMs = 0;
const targets: WebhookTarget[] = [];

beforeAll(async () => {
  t = await startTestApp();
  // DROP DATABASE ... WITH (FORCE) at close may end a superuser connection the pool still holds.
  t.admin.on('error', () => {});
  const hub = t.server.events;
  relay = new OutboxRelay({ pool: t.pool, targets: [], consumers: [webhookConsumer(hub.deliveryDoorbell)], doorbell: hub.relayDoorbell, pollMs: 50 }).start();
  worker = new DeliveryWorker({
    pool: t.pool,
    timeoutMs: 1500,
    maxRetries: 3,
    retryBaseMs: 100,
    concurrency: 16,
    endpointConcurrency: ENDPOINT_CONCURRENCY,
    breakerThreshold: THRESHOLD,
    breakerCooldownMs: COOLDOWN_MS,
    pollMs: 50,
    doorbell: hub.deliveryDoorbell,
    now: () => Date.now() + skewMs,
  }).start();
});
afterAll(async () => {
  await relay?.stop();
  await worker?.stop();
  for (const x of targets) await x.close();
  await t?.close();
});

describe('circuit breaker per endpoint', () => {
  it('unit: opens after N consecutive failures, lets one probe through after the cooldown, closes on success', () => {
    let now = 0;
    const b = new CircuitBreakers({ threshold: 2, cooldownMs: 1000, now: () => now });
    b.failure('x');
    expect(b.state('x')).toBe('closed');
    b.success('x');
    b.failure('x');
    expect(b.state('x')).toBe('closed'); // success reset the count
    b.failure('x');
    expect(b.state('x')).toBe('open');
    expect(b.tryAcquire('x')).toBe(false);
    expect(b.blocked()).toEqual(['x']);
    expect(b.tryAcquire('y')).toBe(true);
    now = 1000;
    expect(b.state('x')).toBe('half_open');
    expect(b.tryAcquire('x')).toBe(true);
    expect(b.tryAcquire('x')).toBe(false); // one probe at a time
    b.failure('x');
    expect(b.state('x')).toBe('open');
    now = 2000;
    expect(b.tryAcquire('x')).toBe(true);
    b.success('x');
    expect(b.state('x')).toBe('closed');
  });

  it('unit: an attempt that started before the circuit opened or closed does not move it', () => {
    let now = 0;
    const b = new CircuitBreakers({ threshold: 2, cooldownMs: 1000, now: () => now });
    const before = b.generation('x'); // a request that will hang through everything below
    b.failure('x');
    b.failure('x');
    expect(b.state('x')).toBe('open');
    b.success('x', before); // it answers late, while the circuit is open: no news about now
    expect(b.state('x')).toBe('open');
    now = 1000;
    expect(b.tryAcquire('x')).toBe(true);
    const probe = b.generation('x');
    b.success('x', probe);
    expect(b.state('x')).toBe('closed');
    // Requests that hung since before the recovery time out now: they do not reopen it.
    b.failure('x', before);
    b.failure('x', probe);
    b.failure('x', probe);
    expect(b.state('x')).toBe('closed');
    b.failure('x');
    b.failure('x');
    expect(b.state('x')).toBe('open');
  });

  it('a dead endpoint trips its circuit while a healthy endpoint keeps receiving every event; it recovers through a probe', async () => {
    const dead = await WebhookTarget.start();
    const healthy = await WebhookTarget.start();
    targets.push(dead, healthy);
    dead.behave = () => 'hang';
    const sub = async (url: string) => {
      const r = await t.request('POST', '/api/v1/webhooks', { token: t.org.token, body: { url, events: ['record.created'] } });
      expect(r.status).toBe(201);
      return r.body.id as string;
    };
    const deadId = await sub(dead.url);
    const healthyId = await sub(healthy.url);

    const EVENTS = 20;
    const writes = await Promise.all(
      Array.from({ length: EVENTS }, (_, i) =>
        t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `Breaker ${i}` } }),
      ),
    );
    expect(writes.every((w) => w.status === 201)).toBe(true);
    const recordIds = new Set(writes.map((w) => w.body.id as string));

    await waitFor('the healthy endpoint to get every event', () =>
      healthy.requests.filter((r) => recordIds.has(JSON.parse(r.body).recordId)).length === EVENTS,
    );
    await waitFor('the dead endpoint circuit to open', () => worker.breakers.state(deadId) === 'open');
    // The API is unaffected while the circuit is open.
    expect((await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'During outage' } })).status).toBe(201);
    await waitFor('the healthy endpoint to get that one too', () => healthy.requests.length === EVENTS + 1);

    const deadRequests = dead.requests.length;
    const pending = await t.admin.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = $1 GROUP BY status',
      [deadId],
    );
    console.log(
      `[circuit breaker] events=${EVENTS + 1} healthyReceived=${healthy.requests.length} deadEndpointRequests=${deadRequests} ` +
        `deadEndpointDeliveries=${JSON.stringify(pending.rows)} breaker=${worker.breakers.state(deadId)}`,
    );
    // Only the requests that tripped the circuit (plus those already in flight) reached the dead endpoint.
    expect(deadRequests).toBeLessThanOrEqual(THRESHOLD + ENDPOINT_CONCURRENCY);
    // No retry budget is burnt while the circuit is open: the deliveries wait, none is dead.
    expect(pending.rows).toEqual([{ status: 'pending', n: EVENTS + 1 }]);
    expect(worker.breakers.state(healthyId)).toBe('closed');

    // The endpoint comes back; once the cooldown has passed, one probe closes the circuit and the backlog flows.
    dead.behave = () => 'ok';
    skewMs = COOLDOWN_MS + 1000;
    await t.admin.query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE subscription_id = $1 AND status = 'pending'", [deadId]);
    t.server.events.deliveryDoorbell.ring();
    await waitFor(
      'the recovered endpoint to get every event',
      async () => {
        const r = await t.admin.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE subscription_id = $1 AND status = 'succeeded'", [deadId]);
        return r.rows[0].n === EVENTS + 1;
      },
      { timeoutMs: 45_000 },
    );
    expect(worker.breakers.state(deadId)).toBe('closed');
    const okIds = new Set(dead.requests.filter((r) => r.answered === 'ok').map((r) => r.headers['x-basalt-event-id']));
    console.log(`[circuit breaker recovery] events=${EVENTS + 1} deliveredAfterRecovery=${okIds.size} totalRequests=${dead.requests.length} lost=0`);
    expect(okIds.size).toBe(EVENTS + 1);
  });
});
