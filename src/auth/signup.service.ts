import { newId } from '../ids.ts';
import { AppError } from '../http/errors.ts';
import { write } from '../records/records.service.ts';
import type { Actor } from './actor.ts';
import { type IdentityDeps, isUniqueViolation, startSession, type TokenPair } from './auth.service.ts';
import { insertOrganization } from './bootstrap.ts';
import { email, newPassword, readBody, text } from './input.ts';
import type { CallInfo } from './mfa.service.ts';
import { countAttempt, signupCounter } from './throttle.service.ts';

/**
 * Self-service organization (multi-tenant hosting, BASALT_OPEN_SIGNUP=true): the new
 * organization, its audit chain head and its admin in one write-path transaction, run as
 * the new admin so row-level security admits exactly the new tenant; then a session.
 */
export async function signup(deps: IdentityDeps, call: CallInfo, body: unknown): Promise<TokenPair & { organizationId: string }> {
  if (!deps.openSignup) throw new AppError('not_found', 'Sign-up is not enabled on this server.');
  await countAttempt(deps.throttle, [signupCounter(deps.throttle, call.ip)]);
  const input = readBody(body, { organizationName: text({ max: 200 }), name: text({ max: 200 }), email, password: newPassword });
  const ids = { orgId: newId(), userId: newId() };
  const actor: Actor = { kind: 'user', orgId: ids.orgId, userId: ids.userId, role: 'admin', teamId: null, apiKeyId: null };
  const ctx = { actor, requestId: call.requestId, deadlineAt: Date.now() + deps.writeDeadlineMs };
  const { password: _secret, ...fingerprinted } = input;
  await write(deps, ctx, 'POST /api/v1/signup', fingerprinted, async (tx) => {
    try {
      await insertOrganization(
        tx.client,
        { organizationName: input.organizationName, adminName: input.name, adminEmail: input.email, adminPassword: input.password },
        ids,
      );
    } catch (err) {
      if (isUniqueViolation(err, 'users_email_key')) throw new AppError('already_exists', 'An account with this email already exists.');
      throw err;
    }
    tx.audit({ object: 'organizations', recordId: ids.orgId, action: 'create', changes: [{ field: 'name', old: null, new: input.organizationName }] });
    tx.audit({
      object: 'users',
      recordId: ids.userId,
      action: 'create',
      changes: [
        { field: 'email', old: null, new: input.email },
        { field: 'name', old: null, new: input.name },
        { field: 'role', old: null, new: 'admin' },
      ],
    });
    tx.emit({ type: 'organization.created', object: 'organizations', recordId: ids.orgId, payload: { name: input.organizationName } });
    tx.emit({ type: 'user.created', object: 'users', recordId: ids.userId, payload: { email: input.email, name: input.name, role: 'admin' } });
    return { status: 201, body: { organizationId: ids.orgId, userId: ids.userId } };
  });
  return { ...(await startSession(deps, ids.orgId, ids.userId)), organizationId: ids.orgId };
}
