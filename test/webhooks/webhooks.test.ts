import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventPipeline, startEventPipeline } from '../../src/events/pipeline.ts';
import type { Delivery } from '../../src/webhooks/webhooks.service.ts';
import { verifySignature } from '../../src/webhooks/signature.ts';
import { backlog, waitFor } from '../events/support.ts';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';
import { WebhookTarget } from './target.ts';

let t: TestApp;
let pipeline: EventPipeline;
const targets: WebhookTarget[] = [];

beforeAll(async () => {
  t = await startTestApp({ BASALT_WEBHOOK_RETRY_BASE_MS: '100', BASALT_OUTBOX_POLL_MS: '50' });
  // DROP DATABASE ... WITH (FORCE) at close may end a superuser connection the pool still holds.
  t.admin.on('error', () => {});
  pipeline = startEventPipeline({ config: t.config, pool: t.pool, hub: t.server.events, metrics: t.server.metrics });
});
afterAll(async () => {
  await pipeline?.stop();
  for (const target of targets) await target.close();
  await t?.close();
});

async function target(): Promise<WebhookTarget> {
  const x = await WebhookTarget.start();
  targets.push(x);
  return x;
}

async function subscribe(url: string, events: string[], secret?: string): Promise<{ id: string; secret: string }> {
  const res = await t.request('POST', '/api/v1/webhooks', { token: t.org.token, body: { url, events, ...(secret ? { secret } : {}) } });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function unsubscribe(id: string): Promise<void> {
  expect((await t.request('DELETE', `/api/v1/webhooks/${id}`, { token: t.org.token })).status).toBe(204);
}

async function createAccount(name: string): Promise<string> {
  const res = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name } });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function deliveries(webhookId: string, query = ''): Promise<Delivery[]> {
  const res = await t.request<{ data: Delivery[] }>('GET', `/api/v1/webhooks/${webhookId}/deliveries${query}`, { token: t.org.token });
  expect(res.status, res.text).toBe(200);
  return res.body.data;
}

async function createdEventId(recordId: string): Promise<string> {
  const res = await t.admin.query("SELECT id FROM outbox WHERE record_id = $1 AND type = 'record.created'", [recordId]);
  return res.rows[0].id;
}

describe('webhook subscriptions API', () => {
  it('creates a subscription, shows its secret once, lists, reads and deletes it', async () => {
    const created = await t.request('POST', '/api/v1/webhooks', {
      token: t.org.token,
      body: { url: 'https://hooks.example.com/basalt', events: ['record.created', 'lead.converted'] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: 'https://hooks.example.com/basalt', events: ['record.created', 'lead.converted'] });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{32}$/);
    expect(created.headers.get('location')).toBe(`/api/v1/webhooks/${created.body.id}`);

    const got = await t.request('GET', `/api/v1/webhooks/${created.body.id}`, { token: t.org.token });
    expect(got.status).toBe(200);
    expect(got.body.secret).toBeUndefined();
    expect(got.body.id).toBe(created.body.id);
    const list = await t.request('GET', '/api/v1/webhooks', { token: t.org.token });
    expect(list.body.data.map((w: { id: string }) => w.id)).toContain(created.body.id);
    expect(list.body.data.every((w: Record<string, unknown>) => !('secret' in w))).toBe(true);

    await sealAudit(t.admin);
    const audit = await t.admin.query("SELECT action FROM audit_log WHERE object = 'webhooks' AND record_id = $1", [created.body.id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['create']);

    expect((await t.request('DELETE', `/api/v1/webhooks/${created.body.id}`, { token: t.org.token })).status).toBe(204);
    expect((await t.request('GET', `/api/v1/webhooks/${created.body.id}`, { token: t.org.token })).status).toBe(404);
    expect((await t.request('DELETE', `/api/v1/webhooks/${created.body.id}`, { token: t.org.token })).status).toBe(404);
  });

  it('rejects bad input with problem+json naming each field', async () => {
    const res = await t.request('POST', '/api/v1/webhooks', {
      token: t.org.token,
      body: { url: 'ftp://files.example.com', events: ['record.created', 'no.such_event'], colour: 'red', secret: 'short' },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/colour', '/events/1', '/secret', '/url']);

    for (const body of [
      { url: 'http://user:pw@example.com/x', events: ['*'] },
      { url: 'not a url', events: ['*'] },
      { url: 'https://example.com/x', events: [] },
      { url: 'https://example.com/x' },
      [],
    ]) {
      const r = await t.request('POST', '/api/v1/webhooks', { token: t.org.token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect((await t.request('GET', '/api/v1/webhooks/not-a-uuid', { token: t.org.token })).status).toBe(404);
    const unknown = '0190f0f0-0000-7000-8000-000000000000';
    expect((await t.request('GET', `/api/v1/webhooks/${unknown}/deliveries`, { token: t.org.token })).status).toBe(404);
  });

  it('is for administrators only', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    const body = { url: 'https://hooks.example.com/x', events: ['*'] };
    expect((await t.request('POST', '/api/v1/webhooks', { token: rep.token, body })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/webhooks', { token: rep.token })).status).toBe(403);
    expect((await t.request('GET', '/api/v1/webhooks')).status).toBe(401);
  });
});

describe('event pipeline metrics', () => {
  it('exposes the outbox backlog and published count in /metrics', async () => {
    await createAccount('Metered Co');
    await waitFor('the relay to catch up', async () => (await backlog(t.pool)) === 0);
    const res = await t.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^basalt_outbox_backlog_events 0$/m);
    expect(res.text).toMatch(/^basalt_outbox_oldest_unpublished_seconds 0$/m);
    const published = /^basalt_outbox_published_events_total (\d+)$/m.exec(res.text);
    expect(Number(published?.[1])).toBeGreaterThan(0);
  });
});

describe('webhook delivery', () => {
  it('POSTs the event with its id, type and a verifiable HMAC-SHA256 signature', async () => {
    const receiver = await target();
    const secret = 'a-shared-secret-of-enough-length';
    const hook = await subscribe(receiver.url, ['record.created'], secret);
    const accountId = await createAccount('Signed Ltd');
    await waitFor('the delivery', () => receiver.requests.length >= 1);

    const req = receiver.requests[0];
    const eventId = await createdEventId(accountId);
    expect(req.headers['x-basalt-event-id']).toBe(eventId);
    expect(req.headers['x-basalt-event-type']).toBe('record.created');
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body);
    expect(body).toMatchObject({ id: eventId, type: 'record.created', object: 'accounts', recordId: accountId, organizationId: t.org.orgId });
    expect(body.data.record.name).toBe('Signed Ltd');

    const header = String(req.headers['x-basalt-signature']);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
    expect(m, header).not.toBeNull();
    const expected = createHmac('sha256', secret).update(`${m?.[1]}.${req.body}`).digest('hex');
    expect(m?.[2]).toBe(expected);
    expect(verifySignature(secret, req.body, header)).toBe(true);
    expect(verifySignature(secret, req.body.replace('Signed Ltd', 'Forged Ltd'), header)).toBe(false);
    expect(verifySignature('another-secret-entirely', req.body, header)).toBe(false);

    // Only subscribed types become deliveries.
    const patch = await t.request('PATCH', `/api/v1/accounts/${accountId}`, {
      token: t.org.token,
      body: { phone: '+1 555 0100' },
      headers: { 'if-match': '"1"' },
    });
    expect(patch.status).toBe(200);
    await waitFor('the relay to catch up', async () => (await backlog(t.pool)) === 0);
    await waitFor('the delivery to be recorded', async () => (await deliveries(hook.id))[0]?.status === 'succeeded');
    const list = await deliveries(hook.id);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ eventId, eventType: 'record.created', status: 'succeeded', attemptCount: 1, nextAttemptAt: null });
    expect(list[0].attempts).toEqual([
      { attempt: 1, at: expect.any(String), outcome: 'succeeded', responseStatus: 200, error: null, durationMs: expect.any(Number), nextRetryAt: null },
    ]);
    await unsubscribe(hook.id);
  });

  it('a target that times out, then answers 500, then recovers gets the event after retries', async () => {
    const receiver = await target();
    receiver.behave = (n) => (n === 1 ? 'hang' : n === 2 ? 'error' : 'ok');
    const hook = await subscribe(receiver.url, ['record.created']);
    const accountId = await createAccount('Flaky Integration Inc');
    const eventId = await createdEventId(accountId);
    await waitFor('delivery after retries', async () => (await deliveries(hook.id))[0]?.status === 'succeeded', { timeoutMs: 45_000 });

    const [d] = await deliveries(hook.id);
    expect(d.attemptCount).toBe(3);
    expect(d.attempts.map((a) => a.outcome)).toEqual(['failed', 'failed', 'succeeded']);
    expect(d.attempts[0]).toMatchObject({ attempt: 1, responseStatus: null, error: 'timed out after 1500 ms' });
    expect(d.attempts[1]).toMatchObject({ attempt: 2, responseStatus: 500, error: 'HTTP 500' });
    expect(d.attempts[2]).toMatchObject({ attempt: 3, responseStatus: 200, error: null, nextRetryAt: null });
    for (const a of d.attempts.slice(0, 2)) expect(Date.parse(a.nextRetryAt ?? '')).toBeGreaterThan(Date.parse(a.at));
    // Every attempt carried the same event id: the receiver can deduplicate.
    expect(receiver.eventIds()).toEqual([eventId, eventId, eventId]);
    expect(receiver.requests.map((r) => r.headers['x-basalt-delivery-attempt'])).toEqual(['1', '2', '3']);
    console.log(
      `[webhook timeout/500 then recovery] events=1 requests=${receiver.requests.length} delivered=1 duplicatesSeen=${receiver.requests.length - 1} lost=0`,
    );
    await unsubscribe(hook.id);
  });

  it('dead-letters after 3 retries, and a replay delivers it once the target is back', async () => {
    const receiver = await target();
    receiver.behave = () => 'error';
    const hook = await subscribe(receiver.url, ['record.created']);
    const accountId = await createAccount('Down For Good LLC');
    const eventId = await createdEventId(accountId);
    await waitFor('dead-letter', async () => (await deliveries(hook.id))[0]?.status === 'dead', { timeoutMs: 45_000 });

    const [dead] = await deliveries(hook.id, '?status=dead');
    expect(dead.attemptCount).toBe(4);
    expect(dead.attempts).toHaveLength(4);
    expect(dead.attempts.every((a) => a.outcome === 'failed' && a.responseStatus === 500)).toBe(true);
    expect(dead.attempts[3].nextRetryAt).toBeNull();
    expect(dead.deadAt).not.toBeNull();
    expect(dead.nextAttemptAt).toBeNull();
    expect(receiver.requests).toHaveLength(4);

    receiver.behave = () => 'ok';
    const replay = await t.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${dead.id}/replay`, { token: t.org.token });
    expect(replay.status, replay.text).toBe(202);
    expect(replay.body).toMatchObject({ id: dead.id, status: 'pending' });
    await waitFor('the replayed delivery', async () => (await deliveries(hook.id))[0]?.status === 'succeeded');
    const [done] = await deliveries(hook.id);
    expect(done.attempts).toHaveLength(5);
    expect(done.attempts[4]).toMatchObject({ attempt: 5, outcome: 'succeeded', responseStatus: 200 });
    expect(receiver.eventIds()).toEqual(Array(5).fill(eventId));
    console.log(`[webhook dead-letter + replay] events=1 requests=${receiver.requests.length} deadAfterAttempts=4 deliveredAfterReplay=1 lost=0`);

    const again = await t.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${dead.id}/replay`, { token: t.org.token });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('conflict');
    const missing = await t.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/0190f0f0-0000-7000-8000-000000000000/replay`, {
      token: t.org.token,
    });
    expect(missing.status).toBe(404);
    await unsubscribe(hook.id);
  });

  it('never follows a redirect to another host', async () => {
    const elsewhere = await target();
    const receiver = await target();
    receiver.behave = () => ({ redirectTo: elsewhere.url });
    const hook = await subscribe(receiver.url, ['record.created']);
    await createAccount('Redirecting Corp');
    await waitFor('the first attempt', async () => (await deliveries(hook.id))[0]?.attempts.length >= 1);
    const [d] = await deliveries(hook.id);
    expect(d.attempts[0]).toMatchObject({ outcome: 'failed', responseStatus: 302, error: 'redirect (302) not followed' });
    expect(elsewhere.requests).toHaveLength(0);
    await unsubscribe(hook.id);
  });
});
