import type { PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import { isPlainObject } from '../records/record-shape.ts';
import type { Actor } from './actor.ts';
import {
  type AuthDeps,
  bearerOf,
  issueTokens,
  REFRESH_PREFIX,
  sha256,
  type TokenPair,
  toPublicUser,
  unauthenticated,
} from './auth.service.ts';
import { optional, readBody, secret } from './input.ts';

/**
 * Sessions are refresh-token families. Each refresh rotates the token; presenting a token
 * that was already rotated means two parties hold it (a leak), so the whole family is
 * revoked and both must sign in again (OAuth 2.0 Security BCP, refresh token rotation).
 */

const INVALID = 'The refresh token is invalid, expired or revoked. Sign in again.';

async function findRefreshToken(deps: AuthDeps, token: string): Promise<{ organization_id: string; id: string } | undefined> {
  if (!token.startsWith(REFRESH_PREFIX)) return undefined;
  const res = await deps.pool.query<{ organization_id: string; id: string }>('SELECT * FROM basalt_find_refresh_token($1)', [
    sha256(token),
  ]);
  return res.rows[0];
}

function revokeFamily(client: PoolClient, familyId: string): Promise<unknown> {
  return client.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [familyId]);
}

export async function refreshSession(deps: AuthDeps, body: unknown): Promise<TokenPair> {
  const { refreshToken } = readBody(body, { refreshToken: secret(512) });
  const ref = await findRefreshToken(deps, refreshToken);
  if (!ref) throw unauthenticated(INVALID);
  // The revocation of a reused family must commit, so the 401 is thrown after the transaction.
  const outcome = await withTenant(deps.pool, { orgId: ref.organization_id }, async (client) => {
    const res = await client.query(
      `SELECT r.family_id, r.user_id, r.rotated_at, r.revoked_at, r.expires_at <= now() AS expired
       FROM refresh_tokens r WHERE r.id = $1 FOR UPDATE`,
      [ref.id],
    );
    const token = res.rows[0];
    if (!token || token.revoked_at || token.expired) return undefined;
    if (token.rotated_at) {
      await revokeFamily(client, token.family_id);
      return undefined;
    }
    const user = await client.query("SELECT * FROM users WHERE id = $1 AND status = 'active'", [token.user_id]);
    if (!user.rows[0]) {
      await revokeFamily(client, token.family_id);
      return undefined;
    }
    await client.query('UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1', [ref.id]);
    return issueTokens(deps, client, toPublicUser(user.rows[0]), token.family_id);
  });
  if (!outcome) throw unauthenticated(INVALID);
  return outcome;
}

/**
 * Ends a session: the family of the refresh token given, else the family (sid) of the
 * bearer access token. An unknown refresh token is not an error (the session is over).
 * Access tokens already issued stay valid until they expire (at most the access TTL).
 */
export async function logout(deps: AuthDeps, body: unknown, authorization: string | undefined): Promise<void> {
  const empty = body === undefined || (isPlainObject(body) && Object.keys(body).length === 0);
  const { refreshToken } = empty ? { refreshToken: undefined } : readBody(body, { refreshToken: optional(secret(512)) });
  if (refreshToken !== undefined) {
    const ref = await findRefreshToken(deps, refreshToken);
    if (!ref) return;
    await withTenant(deps.pool, { orgId: ref.organization_id }, async (client) => {
      const res = await client.query('SELECT family_id FROM refresh_tokens WHERE id = $1', [ref.id]);
      if (res.rows[0]) await revokeFamily(client, res.rows[0].family_id);
    });
    return;
  }
  const token = bearerOf(authorization);
  if (token?.startsWith('bsk_')) throw new AppError('bad_request', 'API keys have no session to end; revoke the key instead.');
  const claims = token ? await deps.keys.verify(token) : undefined;
  if (!claims) throw unauthenticated('Send { "refreshToken": ... } or Authorization: Bearer <access token>.');
  await withTenant(deps.pool, { orgId: claims.org }, (client) => revokeFamily(client, claims.sid));
}

/** The signed-in caller: the user, their organization, and how this request authenticated. */
export async function me(deps: AuthDeps, actor: Actor) {
  return withTenant(
    deps.pool,
    actor,
    async (client) => {
      const res = await client.query(
        `SELECT u.*, o.name AS organization_name FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.id = $1`,
        [actor.userId],
      );
      const row = res.rows[0];
      if (!row) throw unauthenticated();
      return {
        ...toPublicUser(row),
        // The role this request acts with (an API key's own role).
        role: actor.role,
        status: row.status as string,
        mfaEnabled: row.mfa_enabled as boolean,
        organization: { id: actor.orgId, name: row.organization_name as string },
        authMethod: actor.kind === 'api_key' ? 'api_key' : 'access_token',
        apiKeyId: actor.apiKeyId,
      };
    },
    { readOnly: true },
  );
}
