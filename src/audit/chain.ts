import { createHash } from 'node:crypto';
import type { Json } from '../objects/field-types.ts';

/**
 * Audit entries are hash-chained per organization:
 *
 *   hash(n) = hex(SHA-256( hash(n-1) || "\n" || canonical(entry n) ))
 *   hash(0) = GENESIS (64 zeros)
 *
 * canonical(entry) is the JSON text of
 *   { seq, id, at, actorId, actorType, requestId, object, recordId, action, changes, context }
 * with object keys sorted by UTF-16 code units at every depth, no whitespace, strings and
 * numbers as JSON.stringify writes them. `at` is an RFC 3339 UTC string with milliseconds.
 * Anyone can re-check a chain from an export with these rules alone.
 */
export const GENESIS = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  id: string;
  at: string;
  actorId: string | null;
  actorType: string;
  requestId: string;
  object: string;
  recordId: string;
  action: string;
  changes: Json;
  context: Json;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function chainHash(prevHash: string, entry: AuditEntry): string {
  return createHash('sha256').update(`${prevHash}\n${withSeq(canonicalWithoutSeq(entry), entry.seq)}`).digest('hex');
}

/** The canonical entry: its canonical JSON without seq, with `"seq":<n>` as the last key (see canonicalWithoutSeq). */
function withSeq(bodyWithoutSeq: string, seq: number): string {
  return `${bodyWithoutSeq.slice(0, -1)},"seq":${JSON.stringify(seq)}}`;
}

/**
 * canonical(entry) without its `seq`: "seq" sorts after every other key, so the canonical
 * JSON of the whole entry is this text with `,"seq":<n>` spliced in before the closing
 * brace. The database does that splice when it links entries under the chain head's lock
 * (migrations/0012_audit_append.sql), because seq is known only there.
 */
export function canonicalWithoutSeq(entry: Omit<AuditEntry, 'seq'>): string {
  return canonicalJson({
    id: entry.id,
    at: entry.at,
    actorId: entry.actorId,
    actorType: entry.actorType,
    requestId: entry.requestId,
    object: entry.object,
    recordId: entry.recordId,
    action: entry.action,
    changes: entry.changes,
    context: entry.context,
  });
}
