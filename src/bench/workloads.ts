import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Pool as HttpPool } from 'undici';
import { newId } from '../ids.ts';
import { type AuditEntry, canonicalWithoutSeq } from '../audit/chain.ts';
import { inTransaction } from '../db/pool.ts';
import { STANDARD_OBJECTS } from '../objects/definitions.ts';
import { searchQuery } from '../records/search.ts';
import type { Op } from './load.ts';
import type { SeededOrg } from './seed.ts';

/**
 * The workloads, each twice: through the HTTP API (auth, validation, row-level security,
 * the write path), and as the bare database work done directly with the driver as the
 * table owner (no HTTP, no application logic, no RLS): the baseline every API figure is
 * divided by.
 */

export interface BenchContext {
  http: HttpPool;
  token: string;
  raw: pg.Pool;
  org: SeededOrg;
  /** Contacts to read and patch: id and the version we last saw. */
  contacts: { id: string; version: number }[];
  rawContacts: { id: string; version: number }[];
  searchTerms: string[];
  runId: string;
}

export interface Workload {
  name: string;
  description: string;
  api: (ctx: BenchContext, concurrency: number) => Op;
  raw: (ctx: BenchContext, concurrency: number) => Op;
}

async function call(ctx: BenchContext, method: 'GET' | 'POST' | 'PATCH', path: string, expect: number, body?: unknown, headers: Record<string, string> = {}) {
  const res = await ctx.http.request({
    method,
    path,
    headers: { authorization: `Bearer ${ctx.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== expect) throw new Error(`${method} ${path.slice(0, 80)} → ${res.statusCode}: ${text.slice(0, 200)}`);
  return { headers: res.headers, text };
}

const pickFrom = <T>(list: readonly T[], n: number): T => list[n % list.length];

function leadBody(ctx: BenchContext, worker: number, i: number) {
  return {
    firstName: 'Bench',
    lastName: `Lead ${worker}-${i}`,
    email: `lead.${ctx.runId}.${worker}.${i}@bench.example`,
    company: 'Bench Co',
    status: 'new',
    source: 'web',
  };
}

/** Worker w owns the records at indexes w, w + c, w + 2c, …: no two workers touch one record. */
function partitioned<T>(list: T[], worker: number, concurrency: number, i: number): T {
  const per = Math.max(1, Math.floor(list.length / concurrency));
  return list[(worker + concurrency * (i % per)) % list.length];
}

// --- raw baseline: the same rows the write path writes ------------------------------------

interface RawAudit {
  object: string;
  recordId: string;
  action: string;
  changes: AuditEntry['changes'];
  context: AuditEntry['context'];
}

async function rawLedger(client: pg.PoolClient, org: SeededOrg, requestId: string, event: { type: string; object: string; recordId: string; payload: unknown }, receiptBody: unknown, audit: RawAudit, status: number) {
  await client.query(
    `WITH ev AS (INSERT INTO outbox (id, organization_id, type, object, record_id, payload, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7))
     INSERT INTO write_receipts (organization_id, caller_id, key, request_hash, request_id, status_code, response_body, response_headers, expires_at)
     VALUES ($2, $8, $9, $10, $7, $11, $12, '{}', now() + interval '48 hours')`,
    [newId(), org.orgId, event.type, event.object, event.recordId, JSON.stringify(event.payload), requestId, org.adminId, `raw-${randomUUID()}`, createHash('sha256').update(requestId).digest('hex'), status, JSON.stringify(receiptBody)],
  );
  // The same audit append the write path uses (migrations/0013_audit_sealing.sql: linked into the chain by the sealer).
  const entry: Omit<AuditEntry, 'seq'> = {
    id: newId(),
    at: new Date().toISOString(),
    actorId: org.adminId,
    actorType: 'user',
    requestId,
    object: audit.object,
    recordId: audit.recordId,
    action: audit.action,
    changes: audit.changes,
    context: audit.context,
  };
  await client.query('SELECT basalt_append_audit($1, $2::jsonb)', [org.orgId, JSON.stringify([{ ...entry, body: canonicalWithoutSeq(entry) }])]);
}

/** Lead search text per weight ($4 first, $5 last, $6 email, $7 company), as the declaration weights them. */
const LEAD_VECTOR =
  "setweight(to_tsvector('simple', concat_ws(' ', $4::text, $5::text, $6::text)), 'A') || setweight(to_tsvector('simple', $7::text), 'B') || " +
  "setweight(to_tsvector('simple', ''), 'C') || setweight(to_tsvector('simple', ''), 'D')";

const CONTACT_VECTOR =
  "setweight(to_tsvector('simple', concat_ws(' ', t.first_name, t.last_name, t.email)), 'A') || setweight(to_tsvector('simple', ''), 'B') || " +
  "setweight(to_tsvector('simple', concat_ws(' ', t.phone, t.mobile_phone)), 'C') || setweight(to_tsvector('simple', coalesce($3::text, '')), 'D')";

/** What a search box sends while a name is typed: 2 and 3 letters of the first name, then the first name and 1–3 letters of the last. */
export function typingStates(name: string): string[] {
  const [first, last = ''] = name.split(' ');
  return [first.slice(0, 2), first.slice(0, 3), ...[1, 2, 3].map((n) => `${first} ${last.slice(0, n)}`)];
}

/** A search workload over the given terms: the API's search, and its own statement run raw (as the owner with the admin's scope: no HTTP, no app code). */
function searchWorkload(name: string, description: string, termsOf: (ctx: BenchContext) => string[]): Workload {
  return {
    name,
    description,
    api: (ctx) => {
      const terms = termsOf(ctx);
      return async (w, i) => {
        await call(ctx, 'GET', `/api/v1/search?q=${encodeURIComponent(pickFrom(terms, w * 31 + i))}`, 200);
      };
    },
    raw: (ctx) => {
      const terms = termsOf(ctx);
      return async (w, i) => {
        const { sql, params } = searchQuery(STANDARD_OBJECTS, pickFrom(terms, w * 31 + i), ctx.org.orgId, 20);
        await inTransaction(ctx.raw, async (c) => {
          await c.query("SELECT set_config('basalt.org_id', $1, true), set_config('basalt.read_all', 'on', true)", [ctx.org.orgId]);
          await c.query(sql, params);
        });
      };
    },
  };
}

export const WORKLOADS: Workload[] = [
  {
    name: 'create lead',
    description: 'POST /api/v1/leads with Idempotency-Key (record + audit + outbox + receipt in one transaction)',
    api: (ctx) => async (w, i) => {
      await call(ctx, 'POST', '/api/v1/leads', 201, leadBody(ctx, w, i), { 'idempotency-key': `bench-${ctx.runId}-${w}-${i}` });
    },
    raw: (ctx) => async (w, i) => {
      const b = leadBody(ctx, w, i + 1_000_000_000);
      const id = newId();
      const requestId = newId();
      await inTransaction(ctx.raw, async (c) => {
        const res = await c.query(
          `INSERT INTO leads AS t (id, organization_id, owner_id, created_by, updated_by, first_name, last_name, email, company, status, source, search_vector)
           VALUES ($1, $2, $3, $3, $3, $4, $5, $6, $7, $8, $9, ${LEAD_VECTOR})
           RETURNING t.*`,
          [id, ctx.org.orgId, ctx.org.adminId, b.firstName, b.lastName, b.email, b.company, b.status, b.source],
        );
        const record = res.rows[0] as Record<string, unknown>;
        await rawLedger(c, ctx.org, requestId, { type: 'record.created', object: 'leads', recordId: id, payload: { version: 1, record } }, record, {
          object: 'leads',
          recordId: id,
          action: 'create',
          changes: Object.entries(b).map(([field, v]) => ({ field, old: null, new: v })),
          context: { version: 1 },
        }, 201);
      });
    },
  },
  {
    name: 'get by id',
    description: 'GET /api/v1/contacts/{id}',
    api: (ctx) => async (w, i) => {
      await call(ctx, 'GET', `/api/v1/contacts/${pickFrom(ctx.contacts, w * 7919 + i).id}`, 200);
    },
    raw: (ctx) => async (w, i) => {
      await ctx.raw.query('SELECT * FROM contacts WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL', [ctx.org.orgId, pickFrom(ctx.contacts, w * 7919 + i).id]);
    },
  },
  {
    name: 'patch (If-Match)',
    description: 'PATCH /api/v1/contacts/{id} with If-Match (locked read, field-level merge, update + audit + outbox + receipt)',
    api: (ctx, c) => async (w, i) => {
      const rec = partitioned(ctx.contacts, w, c, i);
      const res = await call(ctx, 'PATCH', `/api/v1/contacts/${rec.id}`, 200, { title: `title ${ctx.runId} ${i}` }, { 'if-match': `"${rec.version}"` });
      rec.version = Number(String(res.headers.etag).replaceAll('"', ''));
    },
    raw: (ctx, c) => async (w, i) => {
      const rec = partitioned(ctx.rawContacts, w, c, i);
      const title = `raw title ${ctx.runId} ${i}`;
      const requestId = newId();
      await inTransaction(ctx.raw, async (cl) => {
        const cur = await cl.query('SELECT * FROM contacts WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE', [ctx.org.orgId, rec.id]);
        const before = cur.rows[0] as { version: number; title: string | null };
        if (before.version !== rec.version) throw new Error('raw patch: version moved');
        const next = before.version + 1;
        const res = await cl.query(
          `UPDATE contacts AS t SET title = $3, version = t.version + 1, updated_at = now(), updated_by = $4,
             field_versions = t.field_versions || $5::jsonb, search_vector = ${CONTACT_VECTOR}
           WHERE t.organization_id = $1 AND t.id = $2 RETURNING t.*`,
          [ctx.org.orgId, rec.id, title, ctx.org.adminId, JSON.stringify({ title: next })],
        );
        const changes = [{ field: 'title', old: before.title, new: title }];
        await rawLedger(cl, ctx.org, requestId, { type: 'record.updated', object: 'contacts', recordId: rec.id, payload: { version: next, changes, record: res.rows[0] } }, res.rows[0], {
          object: 'contacts',
          recordId: rec.id,
          action: 'update',
          changes,
          context: { version: next },
        }, 200);
        rec.version = next;
      });
    },
  },
  {
    name: 'list (filter + sort)',
    description: 'GET /api/v1/contacts?filter[ownerId]=…&sort=-createdAt&limit=50',
    api: (ctx) => async (w, i) => {
      await call(ctx, 'GET', `/api/v1/contacts?filter[ownerId]=${pickFrom(ctx.org.userIds, w + i)}&sort=-createdAt&limit=50`, 200);
    },
    raw: (ctx) => async (w, i) => {
      await ctx.raw.query(
        `SELECT t.*, (t.created_at)::text AS __k0, (t.id)::text AS __k1 FROM contacts t
         WHERE t.organization_id = $1 AND t.owner_id = $2::uuid AND t.deleted_at IS NULL ORDER BY t.created_at DESC, t.id DESC LIMIT 51`,
        [ctx.org.orgId, pickFrom(ctx.org.userIds, w + i)],
      );
    },
  },
  searchWorkload('search', 'GET /api/v1/search?q=<first last> over all six objects (full text + trigram)', (ctx) => ctx.searchTerms),
  searchWorkload(
    'search as you type',
    'GET /api/v1/search?q=<what a search box sends while a name is typed: "ch", "che", "chen b", "chen be", "chen bec">',
    (ctx) => ctx.searchTerms.flatMap(typingStates),
  ),
  {
    name: 'pipeline report',
    description: 'GET /api/v1/reports/pipeline (count and sum of amount by stage and currency)',
    api: (ctx) => async () => {
      await call(ctx, 'GET', '/api/v1/reports/pipeline', 200);
    },
    raw: (ctx) => async () => {
      await ctx.raw.query(
        `SELECT t.stage, t.currency, count(*)::int AS count, coalesce(sum(t.amount), 0)::text AS amount
         FROM opportunities t WHERE t.organization_id = $1 AND t.deleted_at IS NULL GROUP BY t.stage, t.currency`,
        [ctx.org.orgId],
      );
    },
  },
];
