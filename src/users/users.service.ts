import { randomBytes } from 'node:crypto';
import { newId } from '../ids.ts';
import { type Actor, ROLES, type Role } from '../auth/actor.ts';
import { isUniqueViolation } from '../auth/auth.service.ts';
import { boolean, email, newPassword, nullable, oneOf, optional, readBody, role, text, uuid } from '../auth/input.ts';
import { hashPassword } from '../auth/passwords.ts';
import { requireAdmin } from '../auth/permissions.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, type FieldError, notFound, validationError } from '../http/errors.ts';
import { isUuid, type Json } from '../objects/field-types.ts';
import { etag, type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult, WriteTx } from '../write/write-path.ts';

/**
 * The people of an organization. Admins manage them; everyone may list them in the
 * short form (a CRM shows owners and assignees), never with security details.
 */

export interface UserSummary {
  id: string;
  name: string;
  email: string;
  role: string;
  teamId: string | null;
}

export interface UserView extends UserSummary {
  organizationId: string;
  status: string;
  mfaEnabled: boolean;
  version: number;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : null);

function toSummary(row: Record<string, unknown>): UserSummary {
  return { id: String(row.id), name: String(row.name), email: String(row.email), role: String(row.role), teamId: (row.team_id as string | null) ?? null };
}

function toView(row: Record<string, unknown>): UserView {
  return {
    ...toSummary(row),
    organizationId: String(row.organization_id),
    status: String(row.status),
    mfaEnabled: Boolean(row.mfa_enabled),
    version: Number(row.version),
    lastLoginAt: iso(row.last_login_at),
    createdAt: iso(row.created_at) ?? '',
    updatedAt: iso(row.updated_at) ?? '',
  };
}

const viewFor = (actor: Actor) => (actor.role === 'admin' ? toView : toSummary);

const LIST_PARAMS = ['limit', 'cursor', 'q', 'role', 'teamId', 'status'] as const;
const USER_STATUSES = ['active', 'disabled'] as const;

export interface UserListFilters {
  /** Case-insensitive substring of the name or the email. */
  q?: string;
  role?: Role;
  /** A team's id, or `none` for users without a team. */
  teamId?: string;
  status?: (typeof USER_STATUSES)[number];
}

function listParam(query: Record<string, unknown>, name: string, errors: FieldError[]): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    errors.push({ path: name, message: 'must be given once' });
    return undefined;
  }
  return v;
}

/**
 * The organization's people, filtered, in keyset pages by id (a cursor stays valid while
 * users are added or changed). The answer keeps its shape: `{ data, nextCursor }`.
 */
export async function listUsers(pool: Pool, actor: Actor, query: Record<string, unknown>) {
  const errors: FieldError[] = [];
  const unknown = Object.keys(query).find((k) => !(LIST_PARAMS as readonly string[]).includes(k));
  if (unknown) errors.push({ path: unknown.slice(0, 100), message: `is not a known query parameter (${LIST_PARAMS.join(', ')})` });
  const rawLimit = listParam(query, 'limit', errors);
  const limit = rawLimit === undefined ? 100 : Number(rawLimit);
  if (!/^\d{1,3}$/.test(rawLimit ?? '100') || limit < 1 || limit > 500) errors.push({ path: 'limit', message: 'must be an integer from 1 to 500' });
  let after: string | null = null;
  const cursor = listParam(query, 'cursor', errors);
  if (cursor !== undefined) {
    after = Buffer.from(cursor, 'base64url').toString('utf8');
    if (!isUuid(after)) errors.push({ path: 'cursor', message: 'is not a cursor from nextCursor' });
  }
  const filters: UserListFilters = {};
  const q = listParam(query, 'q', errors);
  if (q !== undefined) {
    if (q.length > 200 || q.includes('\u0000') || !q.isWellFormed()) errors.push({ path: 'q', message: 'must be text of at most 200 characters' });
    else if (q.trim()) filters.q = q.trim();
  }
  const roleFilter = listParam(query, 'role', errors);
  if (roleFilter !== undefined) {
    if (!(ROLES as readonly string[]).includes(roleFilter)) errors.push({ path: 'role', message: `must be one of ${ROLES.join(', ')}` });
    else filters.role = roleFilter as Role;
  }
  const team = listParam(query, 'teamId', errors);
  if (team !== undefined) {
    if (team !== 'none' && !isUuid(team)) errors.push({ path: 'teamId', message: 'must be a team id or none' });
    else filters.teamId = team.toLowerCase();
  }
  const status = listParam(query, 'status', errors);
  if (status !== undefined) {
    if (!(USER_STATUSES as readonly string[]).includes(status)) errors.push({ path: 'status', message: `must be one of ${USER_STATUSES.join(', ')}` });
    else filters.status = status as UserListFilters['status'];
  }
  if (errors.length) throw validationError(errors);

  const like = filters.q === undefined ? null : `%${filters.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const res = await withTenant(
    pool,
    actor,
    (c) =>
      c.query(
        `SELECT * FROM users
         WHERE ($1::uuid IS NULL OR id > $1)
           AND ($3::text IS NULL OR name ILIKE $3 OR email ILIKE $3)
           AND ($4::text IS NULL OR role = $4)
           AND ($5::text IS NULL OR ($5 = 'none' AND team_id IS NULL) OR team_id::text = $5)
           AND ($6::text IS NULL OR status = $6)
         ORDER BY id LIMIT $2`,
        [after, limit + 1, like, filters.role ?? null, filters.teamId ?? null, filters.status ?? null],
      ),
    { readOnly: true },
  );
  const rows = res.rows.slice(0, limit);
  const more = res.rows.length > limit;
  return {
    data: rows.map(viewFor(actor)),
    nextCursor: more ? Buffer.from(String(rows[rows.length - 1].id)).toString('base64url') : null,
  };
}

export async function getUser(pool: Pool, actor: Actor, id: string): Promise<UserSummary | UserView> {
  if (!isUuid(id)) throw notFound('The user');
  const res = await withTenant(pool, actor, (c) => c.query('SELECT * FROM users WHERE id = $1', [id]), { readOnly: true });
  if (!res.rows[0]) throw notFound('The user');
  return viewFor(actor)(res.rows[0]);
}

async function checkTeam(client: PoolClient, teamId: string | null | undefined): Promise<void> {
  if (!teamId) return;
  const res = await client.query('SELECT 1 FROM teams WHERE id = $1', [teamId]);
  if (!res.rowCount) throw validationError([{ path: 'teamId', message: 'is not a team of this organization' }]);
}

function duplicateEmail(): AppError {
  return new AppError('already_exists', 'A user with this email already exists.', [{ path: 'email', message: 'is already in use' }]);
}

/** Creates a user; without a password one is generated and returned once (generatedPassword). */
export async function createUser(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  const input = readBody(body, {
    email,
    name: text({ max: 200 }),
    role,
    password: optional(newPassword),
    teamId: optional(nullable(uuid)),
  });
  const generated = input.password === undefined ? randomBytes(15).toString('base64url') : undefined;
  const passwordHash = await hashPassword(input.password ?? generated ?? '');
  const { password: _secret, ...fingerprinted } = input;
  const result = await write(deps, ctx, 'POST /api/v1/users', fingerprinted, async (tx) => {
    await checkTeam(tx.client, input.teamId);
    const id = newId();
    let res: { rows: Record<string, unknown>[] };
    try {
      res = await tx.client.query(
        `INSERT INTO users (organization_id, id, email, name, role, team_id, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [ctx.actor.orgId, id, input.email, input.name, input.role, input.teamId ?? null, passwordHash],
      );
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw duplicateEmail();
      throw err;
    }
    const user = toView(res.rows[0]);
    tx.audit({
      object: 'users',
      recordId: id,
      action: 'create',
      changes: (['email', 'name', 'role', 'teamId'] as const).map((f) => ({ field: f, old: null, new: user[f] })),
    });
    tx.emit({ type: 'user.created', object: 'users', recordId: id, payload: { user: toSummary(res.rows[0]) as unknown as Json } });
    return { status: 201, body: user, headers: { ETag: etag(user.version), Location: `/api/v1/users/${id}` } };
  });
  // A generated password reaches the live answer only, never the stored idempotency receipt.
  return result.replayed || !generated ? result : { ...result, body: { ...(result.body as UserView), generatedPassword: generated } };
}

/**
 * Admin changes to a user. Disabling a user or setting a password ends their sessions;
 * `mfaEnabled: false` resets a lost second factor. The last active admin cannot be
 * demoted or disabled. If-Match is optional here; a stale one is 412.
 */
export async function patchUser(deps: RecordsDeps, ctx: RequestCtx, id: string, body: unknown, ifMatch: number | undefined): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  if (!isUuid(id)) throw notFound('The user');
  const input = readBody(body, {
    name: optional(text({ max: 200 })),
    role: optional(role),
    teamId: optional(nullable(uuid)),
    status: optional(oneOf(['active', 'disabled'] as const)),
    password: optional(newPassword),
    mfaEnabled: optional(boolean),
  });
  if (input.mfaEnabled === true) {
    throw validationError([{ path: 'mfaEnabled', message: 'can only be set to false (the user enrolls a device themselves)' }]);
  }
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
  const { password: _secret, ...fingerprinted } = input;
  return write(deps, ctx, `PATCH /api/v1/users/${id}`, { ...fingerprinted, passwordChanged: passwordHash !== undefined, ifMatch: ifMatch ?? null }, async (tx) => {
    const res = await tx.client.query('SELECT * FROM users WHERE id = $1 FOR UPDATE', [id]);
    const row = res.rows[0];
    if (!row) throw notFound('The user');
    const before = toView(row);
    if (ifMatch !== undefined && ifMatch !== before.version) {
      throw new AppError('version_conflict', 'The user was changed since you read it. Read it again and retry.', undefined, { current: before as unknown as Json });
    }
    await checkTeam(tx.client, input.teamId);
    const changes: { field: string; old: Json; new: Json }[] = [];
    for (const f of ['name', 'role', 'teamId', 'status'] as const) {
      if (input[f] !== undefined && input[f] !== before[f]) changes.push({ field: f, old: before[f], new: input[f] ?? null });
    }
    if (input.mfaEnabled === false && before.mfaEnabled) changes.push({ field: 'mfaEnabled', old: true, new: false });
    if (passwordHash !== undefined) changes.push({ field: 'password', old: null, new: '(changed)' });
    if (changes.length === 0) return { status: 200, body: before, headers: { ETag: etag(before.version) } };

    await keepAnAdmin(tx, before, input.role ?? before.role, input.status ?? before.status);
    const updated = await tx.client.query(
      `UPDATE users SET
         name = coalesce($2, name), role = coalesce($3, role),
         team_id = CASE WHEN $4 THEN $5::uuid ELSE team_id END,
         status = coalesce($6, status),
         password_hash = coalesce($7, password_hash),
         mfa_enabled = mfa_enabled AND NOT $8,
         mfa_secret = CASE WHEN $8 THEN NULL ELSE mfa_secret END,
         mfa_pending_secret = CASE WHEN $8 THEN NULL ELSE mfa_pending_secret END,
         mfa_recovery_hashes = CASE WHEN $8 THEN '{}' ELSE mfa_recovery_hashes END,
         mfa_last_step = CASE WHEN $8 THEN NULL ELSE mfa_last_step END,
         version = version + 1, updated_at = $9
       WHERE id = $1 RETURNING *`,
      [
        id,
        input.name ?? null,
        input.role ?? null,
        input.teamId !== undefined,
        input.teamId ?? null,
        input.status ?? null,
        passwordHash ?? null,
        input.mfaEnabled === false,
        tx.at,
      ],
    );
    if (input.status === 'disabled' || passwordHash !== undefined) {
      await tx.client.query('UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [id]);
    }
    const user = toView(updated.rows[0]);
    tx.audit({ object: 'users', recordId: id, action: 'update', changes, context: { version: user.version } });
    tx.emit({ type: 'user.updated', object: 'users', recordId: id, payload: { version: user.version, changes, user: toSummary(updated.rows[0]) as unknown as Json } });
    return { status: 200, body: user, headers: { ETag: etag(user.version) } };
  });
}

/** Refuses a change that would leave the organization without an active admin. */
async function keepAnAdmin(tx: WriteTx, before: UserView, role: string, status: string): Promise<void> {
  const wasActiveAdmin = before.role === 'admin' && before.status === 'active';
  if (!wasActiveAdmin || (role === 'admin' && status === 'active')) return;
  // Locks every active admin, so two admins demoting each other at once cannot both succeed.
  const others = await tx.client.query(
    "SELECT id FROM users WHERE role = 'admin' AND status = 'active' AND id <> $1 FOR UPDATE",
    [before.id],
  );
  if (!others.rowCount) {
    throw new AppError('conflict', 'This is the last active administrator; make someone else an admin first.');
  }
}
