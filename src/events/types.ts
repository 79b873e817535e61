import type { Json } from '../objects/field-types.ts';

/** A domain event as written to the outbox in the transaction of the change it describes. */
export interface DomainEvent {
  /** Unique, time-ordered (UUID v7): consumers deduplicate by it. */
  id: string;
  /** Outbox position (commit order per record). */
  seq: string;
  organizationId: string;
  type: string;
  object: string;
  recordId: string;
  payload: Record<string, Json>;
  requestId: string;
  createdAt: Date;
}

/** Event types Basalt writes today (webhook subscriptions may name these or "*"). */
export const EVENT_TYPES = [
  'record.created',
  'record.updated',
  'record.deleted',
  'record.restored',
  'lead.converted',
  'opportunity.stage_changed',
  'case.assigned',
  'case.sla_breached',
  'metadata.field_created',
  'webhook.created',
  'webhook.deleted',
] as const;

/**
 * The one wire shape of an event, for NATS messages and webhook bodies alike:
 * `{ id, type, createdAt, organizationId, object, recordId, requestId, data }`.
 */
export function eventEnvelope(e: Omit<DomainEvent, 'seq'>): Record<string, Json> {
  return {
    id: e.id,
    type: e.type,
    createdAt: e.createdAt.toISOString(),
    organizationId: e.organizationId,
    object: e.object,
    recordId: e.recordId,
    requestId: e.requestId,
    data: e.payload,
  };
}

/** A subject token: NATS reserves `.`, `*`, `>` and whitespace. */
function token(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

/** `<prefix>.<org>.<object>.<type>`, e.g. `basalt.events.<org>.opportunities.opportunity.stage_changed`. */
export function subjectFor(prefix: string, e: Pick<DomainEvent, 'organizationId' | 'object' | 'type'>): string {
  return [prefix, token(e.organizationId), token(e.object), ...e.type.split('.').map(token)].join('.');
}
