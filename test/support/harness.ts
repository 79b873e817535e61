import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { inject } from 'vitest';
import type { Role } from '../../src/auth/actor.ts';
import { insertOrganization } from '../../src/auth/bootstrap.ts';
import { hashPassword } from '../../src/auth/passwords.ts';
import { type Config, loadConfig } from '../../src/config/config.ts';
import { loadMigrations } from '../../src/db/migrate.ts';
import { createPool, deriveAppRolePassword, type Pool, withCredentials, withDatabase } from '../../src/db/pool.ts';
import { type BasaltServer, buildServer } from '../../src/server.ts';
import type { Lifecycle } from '../../src/health/health.routes.ts';

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface RequestOptions {
  token?: string;
  body?: unknown;
  /** Raw body (sent as is, with the given content type). */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface OrgFixture {
  orgId: string;
  adminId: string;
  email: string;
  password: string;
  token: string;
}

export interface UserFixture {
  id: string;
  email: string;
  password: string;
  role: Role;
  teamId: string | null;
  token: string;
}

export interface TestApp {
  url: string;
  adminUrl: string;
  appUrl: string;
  database: string;
  config: Config;
  server: BasaltServer;
  lifecycle: Lifecycle;
  /** Pool of the restricted application role. */
  pool: Pool;
  /** Superuser pool on this test database (fixtures, tampering, assertions). */
  admin: pg.Pool;
  org: OrgFixture;
  request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<HttpResult<T>>;
  login(email: string, password: string): Promise<string>;
  createOrg(name?: string): Promise<OrgFixture>;
  createTeam(orgId: string, name?: string): Promise<string>;
  createUser(orgId: string, role: Role, opts?: { teamId?: string | null; email?: string }): Promise<UserFixture>;
  close(): Promise<void>;
}

/**
 * Links every committed audit entry into its organization's chain, as the background sealer
 * and every audit read do (migrations/0013_audit_sealing.sql): what a test runs before it
 * reads audit_log directly.
 */
export async function sealAudit(admin: pg.Pool): Promise<void> {
  await admin.query(
    'SELECT basalt_seal_audit(o.id, 1000000, true) FROM (SELECT DISTINCT organization_id AS id FROM audit_pending ORDER BY 1) o',
  );
}

/** One real HTTP request to a Basalt server at baseUrl; JSON bodies parsed. */
export async function httpRequest<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
  if (opts.raw !== undefined) {
    body = typeof opts.raw === 'string' ? opts.raw : new Uint8Array(opts.raw);
    headers['content-type'] = opts.contentType ?? 'application/json';
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(baseUrl + path, { method, headers, body: body as BodyInit | undefined });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}


const PASSWORD = 'correct horse battery staple';
let passwordHash: Promise<string> | undefined;

/** A real Basalt on a fresh database cloned from the migrated template, over real HTTP. */
export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const baseUrl = inject('adminUrl');
  const database = `basalt_t_${randomBytes(6).toString('hex')}`;
  const root = new pg.Client({ connectionString: baseUrl });
  await root.connect();
  await root.query(`CREATE DATABASE ${database} TEMPLATE basalt_test_template`);
  await root.end();

  const adminUrl = withDatabase(baseUrl, database);
  const appUrl = withCredentials(adminUrl, 'basalt_app', deriveAppRolePassword(baseUrl));
  const config = loadConfig({
    BASALT_LOG_LEVEL: 'silent',
    BASALT_DRAIN_DELAY_MS: '0',
    DATABASE_URL: adminUrl,
    ...overrides,
  });
  const admin = new pg.Pool({ connectionString: adminUrl, max: 4 });
  // Dropping the test database (WITH FORCE) terminates idle fixture connections: not an error.
  admin.on('error', () => {});
  const pool = createPool({
    url: appUrl,
    max: 10,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    applicationName: 'basalt-test',
  });
  const migrations = await loadMigrations();
  const lifecycle: Lifecycle = { draining: false, expectedMigration: Math.max(...migrations.map((m) => m.version)) };
  const server = await buildServer({ config, pool, lifecycle, logger: false });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;

  const request = <T>(method: string, path: string, opts: RequestOptions = {}) => httpRequest<T>(url, method, path, opts);

  async function login(email: string, password: string): Promise<string> {
    const res = await request<{ accessToken: string }>('POST', '/api/v1/auth/login', { body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
    return res.body.accessToken;
  }

  async function createOrg(name = 'Test Org'): Promise<OrgFixture> {
    const email = `admin-${randomBytes(4).toString('hex')}@example.com`;
    const client = await admin.connect();
    let ids: { orgId: string; userId: string };
    try {
      ids = await insertOrganization(client, { organizationName: name, adminEmail: email, adminName: 'Admin', adminPassword: PASSWORD });
    } finally {
      client.release();
    }
    return { orgId: ids.orgId, adminId: ids.userId, email, password: PASSWORD, token: await login(email, PASSWORD) };
  }

  async function createTeam(orgId: string, name = `Team ${randomBytes(3).toString('hex')}`): Promise<string> {
    const id = uuidv7();
    await admin.query('INSERT INTO teams (organization_id, id, name) VALUES ($1, $2, $3)', [orgId, id, name]);
    return id;
  }

  async function createUser(orgId: string, role: Role, opts: { teamId?: string | null; email?: string } = {}): Promise<UserFixture> {
    const id = uuidv7();
    const email = opts.email ?? `${role}-${randomBytes(4).toString('hex')}@example.com`;
    passwordHash ??= hashPassword(PASSWORD);
    await admin.query(
      'INSERT INTO users (organization_id, id, email, name, role, team_id, password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [orgId, id, email, `${role} user`, role, opts.teamId ?? null, await passwordHash],
    );
    return { id, email, password: PASSWORD, role, teamId: opts.teamId ?? null, token: await login(email, PASSWORD) };
  }

  const app: TestApp = {
    url,
    adminUrl,
    appUrl,
    database,
    config,
    server,
    lifecycle,
    pool,
    admin,
    org: undefined as unknown as OrgFixture,
    request,
    login,
    createOrg,
    createTeam,
    createUser,
    async close() {
      await server.app.close();
      await pool.end();
      await admin.end();
      const root2 = new pg.Client({ connectionString: baseUrl });
      await root2.connect();
      await root2.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await root2.end();
    },
  };
  app.org = await createOrg('Acme Test');
  return app;
}
