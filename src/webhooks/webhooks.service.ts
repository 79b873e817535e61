import { newId } from '../ids.ts';
import type { Actor } from '../auth/actor.ts';
import { requireAdmin } from '../auth/permissions.ts';
import type { PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { EVENT_TYPES } from '../events/types.ts';
import { AppError, type FieldError, notFound, validationError } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';
import { newWebhookSecret } from './signature.ts';
import { checkWebhookUrl } from './url.ts';

export interface WebhooksDeps extends RecordsDeps {
  /** Wakes this node's delivery worker (a replayed delivery is due at once). */
  wakeDeliveries?: () => void;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  createdAt: string;
  createdBy: string | null;
  /** Only in the answer to the create request. */
  secret?: string;
}

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  outcome: 'succeeded' | 'failed';
  responseStatus: number | null;
  error: string | null;
  durationMs: number;
  nextRetryAt: string | null;
}

export interface Delivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  recordId: string;
  status: 'pending' | 'succeeded' | 'dead';
  attemptCount: number;
  nextAttemptAt: string | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  deadAt: string | null;
  attempts: DeliveryAttempt[];
}

const CREATE_FIELDS = new Set(['url', 'events', 'secret', 'description']);
const KNOWN_EVENTS = new Set<string>(EVENT_TYPES);

interface CreateInput {
  url: string;
  events: string[];
  secret?: string;
  description?: string;
}

function parseCreate(body: unknown): CreateInput {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw validationError([{ path: '', message: 'must be a JSON object { url, events, secret? }' }]);
  }
  const input = body as Record<string, unknown>;
  const errors: FieldError[] = Object.keys(input)
    .filter((k) => !CREATE_FIELDS.has(k))
    .map((k) => ({ path: `/${k}`, message: 'is not a webhook field' }));
  const { url, error } = checkWebhookUrl(input.url);
  if (error) errors.push(error);
  const events = input.events;
  if (!Array.isArray(events) || events.length === 0) {
    errors.push({ path: '/events', message: `must be a non-empty array of event types or "*" (types: ${EVENT_TYPES.join(', ')})` });
  } else {
    events.forEach((e, i) => {
      if (typeof e !== 'string' || (e !== '*' && !KNOWN_EVENTS.has(e))) {
        errors.push({ path: `/events/${i}`, message: `is not an event type or "*" (types: ${EVENT_TYPES.join(', ')})` });
      }
    });
  }
  const secret = input.secret;
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16 || secret.length > 256 || /\s/.test(secret))) {
    errors.push({ path: '/secret', message: 'must be 16 to 256 characters without spaces (or omit it to get a generated one)' });
  }
  const description = input.description;
  if (description !== undefined && description !== null && (typeof description !== 'string' || description.length > 500)) {
    errors.push({ path: '/description', message: 'must be a string of at most 500 characters' });
  }
  if (errors.length) throw validationError(errors);
  return {
    url: url as string,
    events: [...new Set(events as string[])],
    secret: secret as string | undefined,
    description: (description as string | null | undefined) ?? undefined,
  };
}

interface SubscriptionRow {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  created_at: Date;
  created_by: string | null;
}

function toWebhook(r: SubscriptionRow): Webhook {
  return {
    id: r.id,
    url: r.url,
    events: r.events,
    description: r.description,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
  };
}

export function createWebhook(deps: WebhooksDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  const input = parseCreate(body);
  return write(deps, ctx, 'POST /webhooks', body, async (tx) => {
    const id = newId();
    const secret = input.secret ?? newWebhookSecret();
    const res = await tx.client.query<SubscriptionRow>(
      `INSERT INTO webhook_subscriptions (organization_id, id, url, events, secret, description, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       RETURNING id, url, events, description, created_at, created_by`,
      [tx.actor.orgId, id, input.url, input.events, secret, input.description ?? null, tx.actor.userId, tx.at],
    );
    const webhook = toWebhook(res.rows[0]);
    const visible: Record<string, Json> = { url: webhook.url, events: webhook.events, description: webhook.description };
    tx.audit({
      object: 'webhooks',
      recordId: id,
      action: 'create',
      changes: Object.entries(visible).map(([field, v]) => ({ field, old: null, new: v })),
    });
    tx.emit({ type: 'webhook.created', object: 'webhooks', recordId: id, payload: { webhook: { id, ...visible } } });
    return { status: 201, body: { ...webhook, secret }, headers: { Location: `/api/v1/webhooks/${id}` } };
  });
}

const SUBSCRIPTION_COLUMNS = 'id, url, events, description, created_at, created_by';

export async function listWebhooks(deps: WebhooksDeps, actor: Actor): Promise<{ data: Webhook[]; nextCursor: null }> {
  requireAdmin(actor);
  const rows = await withTenant(
    deps.pool,
    actor,
    (c) =>
      c.query<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY created_at, id`,
      ),
    { readOnly: true },
  );
  return { data: rows.rows.map(toWebhook), nextCursor: null };
}

async function findSubscription(c: PoolClient, id: string, forUpdate = false): Promise<SubscriptionRow> {
  if (!isUuid(id)) throw notFound('The webhook');
  const res = await c.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1 AND deleted_at IS NULL${forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!res.rows[0]) throw notFound('The webhook');
  return res.rows[0];
}

export async function getWebhook(deps: WebhooksDeps, actor: Actor, id: string): Promise<Webhook> {
  requireAdmin(actor);
  return toWebhook(await withTenant(deps.pool, actor, (c) => findSubscription(c, id), { readOnly: true }));
}

export function deleteWebhook(deps: WebhooksDeps, ctx: RequestCtx, id: string): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  return write(deps, ctx, `DELETE /webhooks/${id}`, null, async (tx) => {
    const sub = await findSubscription(tx.client, id, true);
    await tx.client.query('UPDATE webhook_subscriptions SET deleted_at = $2 WHERE id = $1', [id, tx.at]);
    tx.audit({ object: 'webhooks', recordId: id, action: 'delete', changes: [{ field: 'deletedAt', old: null, new: tx.at }] });
    tx.emit({ type: 'webhook.deleted', object: 'webhooks', recordId: id, payload: { webhook: { id, url: sub.url } } });
    return { status: 204, body: null };
  });
}

interface DeliveryRow {
  id: string;
  subscription_id: string;
  event_id: string;
  event_seq: string;
  event_type: string;
  record_id: string;
  status: Delivery['status'];
  attempts: number;
  next_attempt_at: Date;
  last_response_status: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
  dead_at: Date | null;
  attempt_log: {
    attempt: number;
    started_at: string;
    outcome: DeliveryAttempt['outcome'];
    response_status: number | null;
    error: string | null;
    duration_ms: number;
    next_attempt_at: string | null;
  }[];
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    webhookId: r.subscription_id,
    eventId: r.event_id,
    eventType: r.event_type,
    recordId: r.record_id,
    status: r.status,
    attemptCount: r.attempts,
    nextAttemptAt: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    lastResponseStatus: r.last_response_status,
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
    deliveredAt: iso(r.delivered_at),
    deadAt: iso(r.dead_at),
    attempts: r.attempt_log.map((a) => ({
      attempt: a.attempt,
      at: iso(a.started_at) as string,
      outcome: a.outcome,
      responseStatus: a.response_status,
      error: a.error,
      durationMs: a.duration_ms,
      nextRetryAt: iso(a.next_attempt_at),
    })),
  };
}

const DELIVERY_STATUSES = new Set(['pending', 'succeeded', 'dead']);
const DELIVERY_QUERY = new Set(['status', 'limit', 'cursor', 'eventId']);

/** Newest first; `status`, `eventId` filters; `limit` (default 50, max 500) and `cursor` paging. */
export async function listDeliveries(
  deps: WebhooksDeps,
  actor: Actor,
  webhookId: string,
  query: Record<string, unknown>,
): Promise<{ data: Delivery[]; nextCursor: string | null }> {
  requireAdmin(actor);
  const errors: FieldError[] = Object.keys(query)
    .filter((k) => !DELIVERY_QUERY.has(k))
    .map((k) => ({ path: k, message: 'unknown query parameter (use status, eventId, limit, cursor)' }));
  const status = query.status;
  if (status !== undefined && (typeof status !== 'string' || !DELIVERY_STATUSES.has(status))) {
    errors.push({ path: 'status', message: 'must be pending, succeeded or dead' });
  }
  const eventId = query.eventId;
  if (eventId !== undefined && (typeof eventId !== 'string' || !isUuid(eventId))) errors.push({ path: 'eventId', message: 'must be an event id' });
  const limit = query.limit === undefined ? 50 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) errors.push({ path: 'limit', message: 'must be an integer from 1 to 500' });
  let before: string | undefined;
  if (query.cursor !== undefined) {
    const decoded = typeof query.cursor === 'string' ? Buffer.from(query.cursor, 'base64url').toString('utf8') : '';
    if (!/^d:\d{1,19}$/.test(decoded)) errors.push({ path: 'cursor', message: 'invalid cursor' });
    else before = decoded.slice(2);
  }
  if (errors.length) throw validationError(errors);

  return withTenant(
    deps.pool,
    actor,
    async (c) => {
      await findSubscription(c, webhookId);
      const res = await c.query<DeliveryRow>(
        `SELECT d.id, d.subscription_id, d.event_id, d.event_seq, d.event_type, d.record_id, d.status, d.attempts,
                d.next_attempt_at, d.last_response_status, d.last_error, d.created_at, d.delivered_at, d.dead_at,
                coalesce((SELECT jsonb_agg(jsonb_build_object(
                   'attempt', a.attempt, 'started_at', a.started_at, 'outcome', a.outcome,
                   'response_status', a.response_status, 'error', a.error, 'duration_ms', a.duration_ms,
                   'next_attempt_at', a.next_attempt_at) ORDER BY a.attempt)
                 FROM webhook_attempts a WHERE a.organization_id = d.organization_id AND a.delivery_id = d.id), '[]') AS attempt_log
         FROM webhook_deliveries d
         WHERE d.subscription_id = $1
           AND ($2::text IS NULL OR d.status = $2)
           AND ($3::uuid IS NULL OR d.event_id = $3)
           AND ($4::bigint IS NULL OR d.event_seq < $4)
         ORDER BY d.event_seq DESC
         LIMIT $5`,
        [webhookId, status ?? null, eventId ?? null, before ?? null, limit + 1],
      );
      const rows = res.rows.slice(0, limit);
      const nextCursor =
        res.rows.length > limit ? Buffer.from(`d:${rows[rows.length - 1].event_seq}`).toString('base64url') : null;
      return { data: rows.map(toDelivery), nextCursor };
    },
    { readOnly: true },
  );
}

/** A dead-lettered delivery becomes pending again, with a fresh retry budget. */
export async function replayDelivery(deps: WebhooksDeps, ctx: RequestCtx, webhookId: string, deliveryId: string): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  if (!isUuid(deliveryId)) throw notFound('The delivery');
  const result = await write(deps, ctx, `POST /webhooks/${webhookId}/deliveries/${deliveryId}/replay`, null, async (tx) => {
    await findSubscription(tx.client, webhookId);
    const res = await tx.client.query<{ status: string; replayed: boolean }>(
      `WITH cur AS (SELECT status FROM webhook_deliveries WHERE subscription_id = $1 AND id = $2 FOR UPDATE),
            upd AS (UPDATE webhook_deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = now(),
                      lease_until = NULL, dead_at = NULL, updated_at = now()
                    WHERE subscription_id = $1 AND id = $2 AND status = 'dead' RETURNING 1)
       SELECT cur.status, EXISTS (SELECT 1 FROM upd) AS replayed FROM cur`,
      [webhookId, deliveryId],
    );
    const row = res.rows[0];
    if (!row) throw notFound('The delivery');
    if (!row.replayed) {
      throw new AppError('conflict', `Only dead-lettered deliveries can be replayed; this one is ${row.status}.`);
    }
    tx.audit({ object: 'webhooks', recordId: webhookId, action: 'replay_delivery', changes: [{ field: 'delivery', old: deliveryId, new: 'pending' }] });
    return { status: 202, body: { id: deliveryId, webhookId, status: 'pending' } };
  });
  if (!result.replayed) deps.wakeDeliveries?.();
  return result;
}
