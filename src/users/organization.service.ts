import { ROLES, type Actor } from '../auth/actor.ts';
import { oneOf, optional, readBody, text, uniqueList } from '../auth/input.ts';
import { requireAdmin } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import type { Json } from '../objects/field-types.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';

export const SHARING_DEFAULTS = ['private', 'public_read', 'public_read_write'] as const;

export interface OrganizationView {
  id: string;
  name: string;
  sharingDefault: string;
  mfaRequiredRoles: string[];
  createdAt: string;
  updatedAt: string;
}

function toView(row: Record<string, unknown>): OrganizationView {
  return {
    id: String(row.id),
    name: String(row.name),
    sharingDefault: String(row.sharing_default),
    mfaRequiredRoles: row.mfa_required_roles as string[],
    createdAt: (row.created_at as Date).toISOString(),
    updatedAt: (row.updated_at as Date).toISOString(),
  };
}

/** Any signed-in user may read the organization's settings (a UI shows its name). */
export async function getOrganization(pool: Pool, actor: Actor): Promise<OrganizationView> {
  const res = await withTenant(pool, actor, (c) => c.query('SELECT * FROM organizations WHERE id = $1', [actor.orgId]), { readOnly: true });
  return toView(res.rows[0]);
}

/** Admins change the name, the record sharing default, and the roles that must use MFA. */
export async function patchOrganization(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  const input = readBody(body, {
    name: optional(text({ max: 200 })),
    sharingDefault: optional(oneOf(SHARING_DEFAULTS)),
    mfaRequiredRoles: optional(uniqueList(oneOf(ROLES), ROLES.length)),
  });
  return write(deps, ctx, 'PATCH /api/v1/organization', input, async (tx) => {
    const res = await tx.client.query('SELECT * FROM organizations WHERE id = $1 FOR UPDATE', [ctx.actor.orgId]);
    const before = toView(res.rows[0]);
    const changes: { field: string; old: Json; new: Json }[] = [];
    if (input.name !== undefined && input.name !== before.name) changes.push({ field: 'name', old: before.name, new: input.name });
    if (input.sharingDefault !== undefined && input.sharingDefault !== before.sharingDefault) {
      changes.push({ field: 'sharingDefault', old: before.sharingDefault, new: input.sharingDefault });
    }
    const roles = input.mfaRequiredRoles ? [...input.mfaRequiredRoles].sort() : undefined;
    if (roles && roles.join() !== [...before.mfaRequiredRoles].sort().join()) {
      changes.push({ field: 'mfaRequiredRoles', old: before.mfaRequiredRoles, new: roles });
    }
    if (changes.length === 0) return { status: 200, body: before };
    const updated = await tx.client.query(
      `UPDATE organizations SET name = coalesce($2, name), sharing_default = coalesce($3, sharing_default),
         mfa_required_roles = coalesce($4, mfa_required_roles), updated_at = $5
       WHERE id = $1 RETURNING *`,
      [ctx.actor.orgId, input.name ?? null, input.sharingDefault ?? null, roles ?? null, tx.at],
    );
    const org = toView(updated.rows[0]);
    tx.audit({ object: 'organizations', recordId: org.id, action: 'update', changes });
    tx.emit({ type: 'organization.updated', object: 'organizations', recordId: org.id, payload: { changes } });
    return { status: 200, body: org };
  });
}
