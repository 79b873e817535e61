import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { newId } from '../ids.ts';
import { inTransaction, type Pool, type PoolClient } from '../db/pool.ts';

const ALG = 'EdDSA';
// One node at a time decides whether a new signing key is needed.
const SIGNING_KEY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('basalt-signing-key', 0))";
const ISSUER = 'basalt';
/** Verified tokens remembered per node (see KeyStore.verified): a few MB at most. */
const VERIFIED_TOKENS_MAX = 10_000;

export interface AccessClaims extends JWTPayload {
  sub: string;
  org: string;
  role: string;
  team: string | null;
  sid: string;
  typ: 'access';
}

interface LiveKey {
  kid: string;
  publicJwk: JWK;
  privateJwk: JWK;
  signUntil: Date;
  verifyUntil: Date;
  /** Imported once per loaded key: importing a JWK costs more CPU than verifying a signature. */
  imported?: { verify?: ReturnType<typeof importJWK>; sign?: ReturnType<typeof importJWK> };
}

/**
 * JWT signing keys live in PostgreSQL so every node signs and verifies with the same set.
 * The newest key signs; every key not past verify_until verifies, so rotation never logs
 * anyone out. An unknown kid triggers one reload (another node may have rotated).
 */
export class KeyStore {
  private keys: LiveKey[] = [];
  private loadedAt = 0;

  private readonly pool: Pool;
  private readonly rotationDays: number;
  private readonly accessTtlSeconds: number;

  constructor(pool: Pool, rotationDays: number, accessTtlSeconds: number) {
    this.pool = pool;
    this.rotationDays = rotationDays;
    this.accessTtlSeconds = accessTtlSeconds;
  }

  async reload(): Promise<void> {
    const res = await this.pool.query(
      'SELECT kid, public_jwk, private_jwk, sign_until, verify_until FROM signing_keys WHERE verify_until > now() ORDER BY created_at DESC',
    );
    this.keys = res.rows.map((r) => ({
      kid: r.kid,
      publicJwk: r.public_jwk,
      privateJwk: r.private_jwk,
      signUntil: r.sign_until,
      verifyUntil: r.verify_until,
    }));
    this.loadedAt = Date.now();
  }

  /** Makes a new signing key when none can sign; safe when several nodes race (advisory lock). */
  async ensureSigningKey(): Promise<void> {
    await this.reload();
    if (this.current()) return;
    await inTransaction(this.pool, async (client) => {
      await client.query(SIGNING_KEY_LOCK);
      const live = await client.query("SELECT 1 FROM signing_keys WHERE sign_until > now() + interval '1 minute'");
      if (live.rowCount === 0) await this.insertKey(client);
    });
    await this.reload();
  }

  /**
   * Makes a new signing key now (an operator's early rotation). Older keys keep verifying
   * until verify_until, so no one is signed out; other nodes start verifying the new key on
   * the first token that names its kid.
   */
  async rotate(): Promise<string> {
    const kid = await inTransaction(this.pool, async (client) => {
      await client.query(SIGNING_KEY_LOCK);
      return this.insertKey(client);
    });
    await this.reload();
    return kid;
  }

  private async insertKey(client: PoolClient): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
    const kid = newId();
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG };
    // clock_timestamp(), not now(): a key made later in the same transaction must sort newer.
    await client.query(
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, sign_until, verify_until)
       VALUES ($1, $2, $3, $4, clock_timestamp(), now() + make_interval(days => $5),
               now() + make_interval(days => $5) + make_interval(secs => $6))`,
      [kid, ALG, publicJwk, privateJwk, this.rotationDays, this.accessTtlSeconds + 60],
    );
    return kid;
  }

  private current(): LiveKey | undefined {
    const now = Date.now();
    return this.keys.find((k) => k.signUntil.getTime() > now + 60_000);
  }

  /** Signs an access token (typ 'access', lifetime BASALT_ACCESS_TOKEN_TTL_SECONDS). */
  async sign(claims: Omit<AccessClaims, 'typ' | 'iss' | 'iat' | 'exp'>): Promise<string> {
    return this.signToken('access', claims, this.accessTtlSeconds);
  }

  /** Verifies an access token; returns undefined for any invalid or expired token. */
  async verify(token: string): Promise<AccessClaims | undefined> {
    return (await this.verifyToken('access', token)) as AccessClaims | undefined;
  }

  /**
   * Signs a short-lived token of another kind (e.g. 'mfa'). The typ claim keeps kinds
   * apart: an access-token check never accepts an 'mfa' token, and the reverse.
   */
  async signToken(typ: string, claims: JWTPayload, ttlSeconds: number): Promise<string> {
    let key = this.current();
    if (!key) {
      await this.ensureSigningKey();
      key = this.current();
    }
    if (!key) throw new Error('no signing key');
    key.imported ??= {};
    key.imported.sign ??= importJWK(key.privateJwk, ALG);
    const privateKey = await key.imported.sign;
    return new SignJWT({ ...claims, typ })
      .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(privateKey);
  }

  /**
   * Tokens whose signature this node has verified, until they expire: the same token string
   * always verifies the same way, so a repeat skips the signature check (the largest part of
   * authenticating a request). Its expiry and its key's validity are checked on every use.
   */
  private readonly verified = new Map<string, { payload: JWTPayload; kid: string; expiresAt: number }>();

  /** Verifies a token of the given typ; undefined for any invalid, expired or other-typ token. */
  async verifyToken(typ: string, token: string): Promise<JWTPayload | undefined> {
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit) {
      const key = this.keys.find((k) => k.kid === hit.kid);
      if (hit.expiresAt > now && key && key.verifyUntil.getTime() >= now) return hit.payload.typ === typ ? hit.payload : undefined;
      this.verified.delete(token);
    }
    let kid: string | undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        async (header) => {
          let key = this.keys.find((k) => k.kid === header.kid);
          if (!key && Date.now() - this.loadedAt > 1000) {
            await this.reload();
            key = this.keys.find((k) => k.kid === header.kid);
          }
          if (!key || key.verifyUntil.getTime() < Date.now()) throw new Error('unknown key');
          kid = key.kid;
          key.imported ??= {};
          key.imported.verify ??= importJWK(key.publicJwk, ALG);
          return key.imported.verify;
        },
        { issuer: ISSUER, algorithms: [ALG] },
      );
      if (kid !== undefined && typeof payload.exp === 'number') {
        // Bounded: the oldest entry goes first (a Map iterates in insertion order).
        if (this.verified.size >= VERIFIED_TOKENS_MAX) this.verified.delete(this.verified.keys().next().value as string);
        this.verified.set(token, { payload: Object.freeze(payload), kid, expiresAt: payload.exp * 1000 });
      }
      return payload.typ === typ ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}
