import { withTenant } from '../db/session.ts';
import type { Role } from './actor.ts';
import { type IdentityDeps, issueTokens, type TokenPair, toPublicUser, unauthenticated } from './auth.service.ts';
import { readBody, secret, text } from './input.ts';
import { issueMfaToken } from './mfa.service.ts';
import { burnPasswordCheck, verifyPassword } from './passwords.ts';
import { countAttempt, forgiveAttempt, loginCounters } from './throttle.service.ts';

export type LoginResult =
  | TokenPair
  | { mfaRequired: true; mfaToken: string }
  | { mfaEnrollmentRequired: true; mfaToken: string };

const WRONG = 'Wrong email or password.';

/**
 * Password sign-in. One answer (401) for an unknown email, a wrong password and a
 * disabled user, each after the same argon2 work, so neither answer nor timing tells
 * which. Attempts are throttled per email and per client address on every node.
 */
export async function login(deps: IdentityDeps, body: unknown, clientIp: string): Promise<LoginResult> {
  const input = readBody(body, { email: text({ max: 320 }), password: secret(1024) });
  const counters = loginCounters(deps.throttle, input.email, clientIp);
  await countAttempt(deps.throttle, counters);

  const found = await deps.pool.query<{ organization_id: string; id: string; password_hash: string | null; status: string }>(
    'SELECT * FROM basalt_find_login($1)',
    [input.email],
  );
  const ref = found.rows[0];
  if (!ref) {
    await burnPasswordCheck(input.password);
    throw unauthenticated(WRONG);
  }
  const passwordOk = await verifyPassword(ref.password_hash, input.password);
  if (!passwordOk || ref.status !== 'active') throw unauthenticated(WRONG);
  await forgiveAttempt(deps.throttle, counters.slice(1), counters.slice(0, 1));

  return withTenant(deps.pool, { orgId: ref.organization_id }, async (client) => {
    const res = await client.query(
      `SELECT u.*, o.mfa_required_roles FROM users u JOIN organizations o ON o.id = u.organization_id
       WHERE u.id = $1 FOR UPDATE OF u`,
      [ref.id],
    );
    const row = res.rows[0];
    if (row?.status !== 'active') throw unauthenticated(WRONG);
    const user = toPublicUser(row);
    if (row.mfa_enabled) return { mfaRequired: true, mfaToken: await issueMfaToken(deps.keys, user, 'verify') };
    if ((row.mfa_required_roles as Role[]).includes(user.role)) {
      return { mfaEnrollmentRequired: true, mfaToken: await issueMfaToken(deps.keys, user, 'enroll') };
    }
    await client.query('UPDATE users SET last_login_at = now() WHERE id = $1', [ref.id]);
    return issueTokens(deps, client, user);
  });
}
