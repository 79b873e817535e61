import { createHash, randomBytes } from 'node:crypto';
import { newId } from '../ids.ts';
import type { Config } from '../config/config.ts';
import type { Pool, PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import type { WritePathDeps } from '../write/write-path.ts';
import type { Actor, Role } from './actor.ts';
import type { KeyStore } from './keys.ts';
import type { ThrottleDeps } from './throttle.service.ts';

export interface AuthDeps {
  pool: Pool;
  keys: KeyStore;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
}

/** What the identity routes (sign-in, MFA, users, API keys, signup) need. */
export interface IdentityDeps extends AuthDeps, WritePathDeps {
  throttle: ThrottleDeps;
  openSignup: boolean;
  writeDeadlineMs: number;
}

export function identityDeps(auth: AuthDeps, config: Config, log?: WritePathDeps['log']): IdentityDeps {
  return {
    ...auth,
    log,
    throttle: { pool: auth.pool, maxAttempts: config.loginMaxAttempts, windowSeconds: config.loginWindowSeconds },
    openSignup: config.openSignup,
    writeDeadlineMs: config.writeDeadlineMs,
  };
}

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  organizationId: string;
  teamId: string | null;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: 'Bearer';
  user: PublicUser;
}

export const REFRESH_PREFIX = 'bsr_';
export const API_KEY_PREFIX = 'bsk_';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A PostgreSQL unique violation (of that constraint, when named). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

export function unauthenticated(detail = 'The access token is missing, invalid or expired.'): AppError {
  return new AppError('unauthenticated', detail, undefined, undefined, { 'WWW-Authenticate': 'Bearer' });
}

export function toPublicUser(row: Record<string, unknown>): PublicUser {
  return {
    id: row.id as string,
    email: row.email as string,
    name: row.name as string,
    role: row.role as Role,
    organizationId: row.organization_id as string,
    teamId: (row.team_id as string | null) ?? null,
  };
}

/**
 * Issues an access token and a new refresh token (of an existing family, or a new one)
 * inside the caller's tenant transaction.
 */
export async function issueTokens(
  deps: AuthDeps,
  client: PoolClient,
  user: PublicUser,
  familyId: string = newId(),
): Promise<TokenPair> {
  const refreshToken = `${REFRESH_PREFIX}${randomBytes(32).toString('base64url')}`;
  await client.query(
    `INSERT INTO refresh_tokens (organization_id, id, user_id, family_id, token_hash, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
    [user.organizationId, newId(), user.id, familyId, sha256(refreshToken), deps.refreshTokenTtlSeconds],
  );
  const accessToken = await deps.keys.sign({
    sub: user.id,
    org: user.organizationId,
    role: user.role,
    team: user.teamId,
    sid: familyId,
  });
  return { accessToken, refreshToken, expiresIn: deps.accessTokenTtlSeconds, tokenType: 'Bearer', user };
}

/**
 * The end of every sign-in (password, MFA, enrollment, signup): a new session for an
 * active user. 401 if the user was disabled in the meantime.
 */
export async function startSession(deps: AuthDeps, orgId: string, userId: string): Promise<TokenPair> {
  return withTenant(deps.pool, { orgId }, async (client) => {
    const res = await client.query("UPDATE users SET last_login_at = now() WHERE id = $1 AND status = 'active' RETURNING *", [
      userId,
    ]);
    if (!res.rows[0]) throw unauthenticated('Wrong email or password.');
    return issueTokens(deps, client, toPublicUser(res.rows[0]));
  });
}

/** The bearer token of an Authorization header, if it has that shape. */
export function bearerOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  return /^Bearer\s+(\S{1,4096})$/i.exec(header.trim())?.[1];
}

/** Turns an Authorization header into an Actor, or throws 401. */
export async function authenticate(deps: AuthDeps, header: string | undefined): Promise<Actor> {
  if (!header) throw unauthenticated('Sign in first: send Authorization: Bearer <token>.');
  const token = bearerOf(header);
  if (!token) throw unauthenticated('Use Authorization: Bearer <access token or API key>.');
  if (token.startsWith(API_KEY_PREFIX)) return authenticateApiKey(deps, token);
  const claims = await deps.keys.verify(token);
  if (!claims) throw unauthenticated();
  return {
    kind: 'user',
    orgId: claims.org,
    userId: claims.sub,
    role: claims.role as Role,
    teamId: claims.team ?? null,
    apiKeyId: null,
  };
}

async function authenticateApiKey(deps: AuthDeps, key: string): Promise<Actor> {
  const found = await deps.pool.query<{ organization_id: string; id: string }>('SELECT * FROM basalt_find_api_key($1)', [sha256(key)]);
  const ref = found.rows[0];
  if (!ref) throw unauthenticated('The API key is not valid.');
  return withTenant(deps.pool, { orgId: ref.organization_id }, async (client) => {
    const res = await client.query(
      `SELECT k.id, k.role, k.created_by, u.team_id, u.status
       FROM api_keys k JOIN users u ON u.id = k.created_by
       WHERE k.id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`,
      [ref.id],
    );
    const row = res.rows[0];
    if (row?.status !== 'active') throw unauthenticated('The API key is revoked, expired, or its owner is disabled.');
    await client.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval \'1 minute\')', [ref.id]);
    return {
      kind: 'api_key',
      orgId: ref.organization_id,
      userId: row.created_by,
      role: row.role as Role,
      teamId: row.team_id ?? null,
      apiKeyId: row.id,
    };
  });
}
