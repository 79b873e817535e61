import { randomBytes } from 'node:crypto';
import { newId } from '../ids.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { notFound } from '../http/errors.ts';
import { isUuid } from '../objects/field-types.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';
import type { Actor } from './actor.ts';
import { API_KEY_PREFIX, sha256 } from './auth.service.ts';
import { futureTimestamp, nullable, optional, readBody, role, text } from './input.ts';
import { requireAdmin } from './permissions.ts';

/**
 * API keys for integrations: `bsk_` + 32 random bytes (base64url), shown once at creation,
 * stored as SHA-256 (256 random bits need no slow hash) plus a short prefix to recognise
 * them by. A key acts as the admin who created it, with the key's own role.
 */

export interface ApiKeyView {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const PREFIX_LENGTH = API_KEY_PREFIX.length + 8;
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);

function toView(row: Record<string, unknown>): ApiKeyView {
  return {
    id: String(row.id),
    name: String(row.name),
    role: String(row.role),
    prefix: String(row.prefix),
    createdBy: String(row.created_by),
    createdAt: iso(row.created_at) ?? '',
    expiresAt: iso(row.expires_at),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

export async function createApiKey(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  const input = readBody(body, { name: text({ max: 100 }), role, expiresAt: optional(nullable(futureTimestamp)) });
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const result = await write(deps, ctx, 'POST /api/v1/api-keys', input, async (tx) => {
    const id = newId();
    const res = await tx.client.query(
      `INSERT INTO api_keys (organization_id, id, name, role, prefix, key_hash, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
      [ctx.actor.orgId, id, input.name, input.role, key.slice(0, PREFIX_LENGTH), sha256(key), ctx.actor.userId, input.expiresAt ?? null],
    );
    const view = toView(res.rows[0]);
    tx.audit({
      object: 'api_keys',
      recordId: id,
      action: 'create',
      changes: [
        { field: 'name', old: null, new: view.name },
        { field: 'role', old: null, new: view.role },
        { field: 'expiresAt', old: null, new: view.expiresAt },
      ],
    });
    tx.emit({ type: 'api_key.created', object: 'api_keys', recordId: id, payload: { name: view.name, role: view.role, prefix: view.prefix } });
    return { status: 201, body: view, headers: { Location: `/api/v1/api-keys/${id}` } };
  });
  // The key itself is added to the live answer only, never to the stored idempotency receipt.
  return result.replayed ? result : { ...result, body: { ...(result.body as ApiKeyView), key } };
}

export async function listApiKeys(pool: Pool, actor: Actor): Promise<{ data: ApiKeyView[] }> {
  requireAdmin(actor);
  const res = await withTenant(pool, actor, (c) => c.query('SELECT * FROM api_keys ORDER BY created_at DESC, id'), { readOnly: true });
  return { data: res.rows.map(toView) };
}

/** Revokes a key (204); revoking a revoked key again changes nothing. */
export async function revokeApiKey(deps: RecordsDeps, ctx: RequestCtx, id: string): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  if (!isUuid(id)) throw notFound('The API key');
  return write(deps, ctx, `DELETE /api/v1/api-keys/${id}`, null, async (tx) => {
    const res = await tx.client.query('SELECT * FROM api_keys WHERE id = $1 FOR UPDATE', [id]);
    const row = res.rows[0];
    if (!row) throw notFound('The API key');
    if (!row.revoked_at) {
      await tx.client.query('UPDATE api_keys SET revoked_at = $2 WHERE id = $1', [id, tx.at]);
      tx.audit({ object: 'api_keys', recordId: id, action: 'revoke', changes: [{ field: 'revokedAt', old: null, new: tx.at }] });
      tx.emit({ type: 'api_key.revoked', object: 'api_keys', recordId: id, payload: { name: String(row.name), prefix: String(row.prefix) } });
    }
    return { status: 204, body: null };
  });
}
