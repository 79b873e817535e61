import { randomBytes } from 'node:crypto';
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib';
import type { PoolClient } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, validationError } from '../http/errors.ts';
import { write } from '../records/records.service.ts';
import type { Actor, Role } from './actor.ts';
import {
  authenticate,
  bearerOf,
  type IdentityDeps,
  sha256,
  startSession,
  type TokenPair,
  unauthenticated,
} from './auth.service.ts';
import type { KeyStore } from './keys.ts';
import { optional, readBody, secret } from './input.ts';
import { verifyPassword } from './passwords.ts';
import { countAttempt, forgiveAttempt, mfaCounter } from './throttle.service.ts';

/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30 s) second factor with one-time recovery codes.
 *
 * Between the password and the second factor the client holds an "MFA token": a JWT
 * signed by the KeyStore with typ 'mfa', 5 minutes, claims { sub, org, purpose }, where
 * purpose 'verify' admits POST /auth/mfa and 'enroll' (MFA required by the organization
 * but not set up yet) admits only enroll and confirm.
 */

export type MfaPurpose = 'verify' | 'enroll';
const MFA_TOKEN_TTL_SECONDS = 300;
const RECOVERY_CODES = 10;
const ISSUER = 'Basalt';
/** One step each way: phones whose clock is a little off still work. */
const TOLERANCE_SECONDS = 30;

/** What a route knows about the call, for the write path. */
export interface CallInfo {
  requestId: string;
  idempotencyKey?: string;
  authorization?: string;
  ip: string;
}

interface Who {
  orgId: string;
  userId: string;
}

export function issueMfaToken(keys: KeyStore, user: { id: string; organizationId: string }, purpose: MfaPurpose): Promise<string> {
  return keys.signToken('mfa', { sub: user.id, org: user.organizationId, purpose }, MFA_TOKEN_TTL_SECONDS);
}

async function readMfaToken(keys: KeyStore, token: string | undefined, purpose: MfaPurpose): Promise<Who | undefined> {
  if (!token) return undefined;
  const claims = await keys.verifyToken('mfa', token);
  if (!claims || claims.purpose !== purpose || typeof claims.sub !== 'string' || typeof claims.org !== 'string') return undefined;
  return { orgId: claims.org, userId: claims.sub };
}

/** Enroll and confirm accept a signed-in user's access token, or an enrollment MFA token. */
async function resolveEnrollee(deps: IdentityDeps, authorization: string | undefined): Promise<Who & { viaMfaToken: boolean }> {
  const enrolling = await readMfaToken(deps.keys, bearerOf(authorization), 'enroll');
  if (enrolling) return { ...enrolling, viaMfaToken: true };
  const actor = await authenticate(deps, authorization);
  requireUserSession(actor);
  return { orgId: actor.orgId, userId: actor.userId, viaMfaToken: false };
}

export function requireUserSession(actor: Actor): void {
  if (actor.kind !== 'user') throw new AppError('forbidden', 'API keys have no second factor; sign in as the user.');
}

async function actorFor(deps: IdentityDeps, who: Who): Promise<Actor> {
  const res = await withTenant(deps.pool, { orgId: who.orgId }, (c) =>
    c.query<{ role: Role; team_id: string | null; status: string }>('SELECT role, team_id, status FROM users WHERE id = $1', [who.userId]),
  );
  const row = res.rows[0];
  if (row?.status !== 'active') throw unauthenticated();
  return { kind: 'user', orgId: who.orgId, userId: who.userId, role: row.role, teamId: row.team_id, apiKeyId: null };
}

function ctxFor(deps: IdentityDeps, actor: Actor, call: CallInfo) {
  return { actor, requestId: call.requestId, idempotencyKey: call.idempotencyKey, deadlineAt: Date.now() + deps.writeDeadlineMs };
}

/** Step 1: a new secret, kept pending until a code from it is confirmed. */
export async function enrollMfa(deps: IdentityDeps, call: CallInfo): Promise<{ secret: string; otpauthUri: string }> {
  const who = await resolveEnrollee(deps, call.authorization);
  return withTenant(deps.pool, { orgId: who.orgId }, async (client) => {
    const res = await client.query('SELECT email, status, mfa_enabled FROM users WHERE id = $1 FOR UPDATE', [who.userId]);
    const row = res.rows[0];
    if (row?.status !== 'active') throw unauthenticated();
    if (row.mfa_enabled) throw new AppError('conflict', 'MFA is already on. Disable it first to enroll a new device.');
    const mfaSecret = generateSecret();
    await client.query('UPDATE users SET mfa_pending_secret = $2 WHERE id = $1', [who.userId, mfaSecret]);
    return { secret: mfaSecret, otpauthUri: generateURI({ issuer: ISSUER, label: row.email, secret: mfaSecret }) };
  });
}

export type ConfirmResult = { mfaEnabled: true; recoveryCodes?: string[] } & Partial<TokenPair>;

/**
 * Step 2: a code from the pending secret turns MFA on and yields the recovery codes (shown
 * once, stored as SHA-256: they are 50 random bits each, not passwords). Through an
 * enrollment MFA token the answer is also a full sign-in.
 */
export async function confirmMfa(deps: IdentityDeps, call: CallInfo, body: unknown): Promise<{ status: number; body: ConfirmResult; replayed: boolean }> {
  const who = await resolveEnrollee(deps, call.authorization);
  const { code } = readBody(body, { code: secret(64) });
  const counter = mfaCounter(deps.throttle, who.userId);
  await countAttempt(deps.throttle, [counter]);
  const actor = await actorFor(deps, who);
  const codes = newRecoveryCodes();
  const result = await write(deps, ctxFor(deps, actor, call), 'POST /api/v1/auth/mfa/confirm', { code }, async (tx) => {
    const res = await tx.client.query('SELECT mfa_enabled, mfa_pending_secret FROM users WHERE id = $1 FOR UPDATE', [who.userId]);
    const row = res.rows[0];
    if (row.mfa_enabled) throw new AppError('conflict', 'MFA is already on.');
    if (!row.mfa_pending_secret) throw new AppError('conflict', 'Call POST /api/v1/auth/mfa/enroll first.');
    const step = await totpStep(row.mfa_pending_secret, code, null);
    if (step === undefined) throw wrongCode();
    await tx.client.query(
      `UPDATE users SET mfa_enabled = true, mfa_secret = mfa_pending_secret, mfa_pending_secret = NULL,
         mfa_recovery_hashes = $2, mfa_last_step = $3, version = version + 1, updated_at = now() WHERE id = $1`,
      [who.userId, codes.map(hashRecoveryCode), step],
    );
    tx.audit({ object: 'users', recordId: who.userId, action: 'mfa_enabled', changes: [{ field: 'mfaEnabled', old: false, new: true }] });
    tx.emit({ type: 'user.mfa_enabled', object: 'users', recordId: who.userId, payload: { userId: who.userId } });
    return { status: 200, body: { mfaEnabled: true } };
  });
  await forgiveAttempt(deps.throttle, [], [counter]);
  // The codes (and tokens) never reach the stored idempotency receipt: a replay gets neither.
  if (result.replayed) return { status: result.status, body: result.body as ConfirmResult, replayed: true };
  const session = who.viaMfaToken ? await startSession(deps, who.orgId, who.userId) : {};
  return { status: 200, body: { ...session, mfaEnabled: true, recoveryCodes: codes }, replayed: false };
}

/** Turns MFA off with a current code, a recovery code, or the password. */
export async function disableMfa(deps: IdentityDeps, actor: Actor, call: CallInfo, body: unknown) {
  requireUserSession(actor);
  const input = readBody(body, { code: optional(secret(64)), password: optional(secret(1024)) });
  if ((input.code === undefined) === (input.password === undefined)) {
    throw validationError([{ path: '', message: 'send either "code" (authenticator or recovery code) or "password"' }]);
  }
  const counter = mfaCounter(deps.throttle, actor.userId);
  await countAttempt(deps.throttle, [counter]);
  const result = await write(deps, ctxFor(deps, actor, call), 'POST /api/v1/auth/mfa/disable', { code: input.code ?? null }, async (tx) => {
    const res = await tx.client.query(
      `SELECT u.*, o.mfa_required_roles FROM users u JOIN organizations o ON o.id = u.organization_id
       WHERE u.id = $1 FOR UPDATE OF u`,
      [actor.userId],
    );
    const row = res.rows[0];
    if (!row?.mfa_enabled) throw new AppError('conflict', 'MFA is not on.');
    if ((row.mfa_required_roles as string[]).includes(row.role)) {
      throw new AppError('forbidden', `Your organization requires MFA for the ${row.role} role.`);
    }
    const ok =
      input.code !== undefined
        ? await checkSecondFactor(tx.client, row, input.code)
        : await verifyPassword(row.password_hash, input.password ?? '');
    if (!ok) throw input.code !== undefined ? wrongCode() : validationError([{ path: 'password', message: 'is not correct' }]);
    await tx.client.query(
      `UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_pending_secret = NULL, mfa_recovery_hashes = '{}',
         mfa_last_step = NULL, version = version + 1, updated_at = now() WHERE id = $1`,
      [actor.userId],
    );
    tx.audit({ object: 'users', recordId: actor.userId, action: 'mfa_disabled', changes: [{ field: 'mfaEnabled', old: true, new: false }] });
    tx.emit({ type: 'user.mfa_disabled', object: 'users', recordId: actor.userId, payload: { userId: actor.userId } });
    return { status: 200, body: { mfaEnabled: false } };
  });
  await forgiveAttempt(deps.throttle, [], [counter]);
  return result;
}

/** Second step of a sign-in: the MFA token from login plus a current code or a recovery code. */
export async function completeMfaLogin(deps: IdentityDeps, body: unknown): Promise<TokenPair> {
  const input = readBody(body, { mfaToken: secret(4096), code: secret(64) });
  const who = await readMfaToken(deps.keys, input.mfaToken, 'verify');
  if (!who) throw unauthenticated('The MFA token is invalid or expired. Sign in again.');
  const counter = mfaCounter(deps.throttle, who.userId);
  await countAttempt(deps.throttle, [counter]);
  const ok = await withTenant(deps.pool, { orgId: who.orgId }, async (client) => {
    const res = await client.query('SELECT * FROM users WHERE id = $1 FOR UPDATE', [who.userId]);
    const row = res.rows[0];
    return Boolean(row && row.status === 'active' && row.mfa_enabled && (await checkSecondFactor(client, row, input.code)));
  });
  if (!ok) throw unauthenticated('The code is not valid.');
  await forgiveAttempt(deps.throttle, [], [counter]);
  return startSession(deps, who.orgId, who.userId);
}

/**
 * A current TOTP code (each time step accepted once: mfa_last_step) or an unused recovery
 * code (removed as it is used). Runs in the caller's transaction with the user row locked.
 */
async function checkSecondFactor(client: PoolClient, row: Record<string, unknown>, code: string): Promise<boolean> {
  const compact = code.replace(/[\s-]/g, '').toLowerCase();
  if (/^\d{6}$/.test(compact)) {
    const last = row.mfa_last_step === null ? null : Number(row.mfa_last_step);
    const step = await totpStep(String(row.mfa_secret), compact, last);
    if (step === undefined) return false;
    await client.query('UPDATE users SET mfa_last_step = $2 WHERE id = $1', [row.id, step]);
    return true;
  }
  if (!/^[a-z2-7]{10}$/.test(compact)) return false;
  const used = await client.query(
    'UPDATE users SET mfa_recovery_hashes = array_remove(mfa_recovery_hashes, $2) WHERE id = $1 AND $2 = ANY(mfa_recovery_hashes)',
    [row.id, hashRecoveryCode(compact)],
  );
  return used.rowCount === 1;
}

/** The RFC 6238 time step the code belongs to, if it is valid and newer than `after`. */
async function totpStep(mfaSecret: string, code: string, after: number | null): Promise<number | undefined> {
  if (!/^\d{6}$/.test(code)) return undefined;
  try {
    const result = await verifyTotp({ secret: mfaSecret, token: code, epochTolerance: TOLERANCE_SECONDS });
    if (!result.valid || !('timeStep' in result)) return undefined;
    return after === null || result.timeStep > after ? result.timeStep : undefined;
  } catch {
    return undefined;
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Ten codes of 10 base32 characters (50 bits), written xxxxx-xxxxx. */
function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODES }, () => {
    const chars = Array.from(randomBytes(10), (b) => BASE32[b & 31]).join('');
    return `${chars.slice(0, 5)}-${chars.slice(5)}`;
  });
}

function hashRecoveryCode(code: string): string {
  return sha256(`basalt-recovery:${code.replace(/[\s-]/g, '').toLowerCase()}`);
}

function wrongCode(): AppError {
  return validationError([{ path: 'code', message: 'is not a valid code (it may have been used already)' }]);
}
