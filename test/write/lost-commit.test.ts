import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool, type PoolClient } from '../../src/db/pool.ts';
import { buildServer } from '../../src/server.ts';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

/**
 * The moment the write path exists for: the COMMIT reached the server (or did not), and
 * the answer never came back. A pool wrapper makes that happen on demand, and can make
 * the next connection attempts fail too (the database "still down" while we look for the
 * receipt).
 */
interface FaultyPool {
  pool: Pool;
  /** The next COMMIT: `applied` runs it and loses the answer; `lost` never sends it. */
  failNextCommit(mode: 'applied' | 'lost', thenRefuseConnects?: number): void;
}

function faultyPool(url: string): FaultyPool {
  const pool = createPool({ url, max: 5, connectTimeoutMs: 3000, applicationName: 'basalt-faulty' });
  const wrapped = new WeakSet<PoolClient>();
  let commitFault: { mode: 'applied' | 'lost'; refuse: number } | undefined;
  let refuse = 0;
  const realConnect = pool.connect.bind(pool) as () => Promise<PoolClient>;
  const connectAsync = async (): Promise<PoolClient> => {
    if (refuse > 0) {
      refuse--;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    }
    const client = await realConnect();
    if (!wrapped.has(client)) {
      wrapped.add(client);
      const realQuery = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      const query = (...args: unknown[]): unknown => {
        // The write path sends COMMIT alone, or after the audit append in the same message.
        const sql = args[0];
        if (typeof sql === 'string' && /(^|; )COMMIT$/.test(sql) && args.length === 1 && commitFault) {
          const fault = commitFault;
          commitFault = undefined;
          return realQuery(fault.mode === 'applied' ? sql : 'ROLLBACK').then(() => {
            refuse = fault.refuse;
            throw new Error('Connection terminated unexpectedly');
          });
        }
        return realQuery(...args);
      };
      client.query = query as unknown as typeof client.query;
    }
    return client;
  };
  // pg-pool's own pool.query() calls connect with a callback.
  const connect = (cb?: (err: Error | undefined, client?: PoolClient, release?: () => void) => void): Promise<PoolClient> | undefined => {
    if (!cb) return connectAsync();
    connectAsync().then(
      (c) => cb(undefined, c, () => c.release()),
      (err: Error) => cb(err),
    );
    return undefined;
  };
  pool.connect = connect as unknown as typeof pool.connect;
  return {
    pool,
    failNextCommit(mode, thenRefuseConnects = 0) {
      commitFault = { mode, refuse: thenRefuseConnects };
    },
  };
}

let t: TestApp;
let faulty: FaultyPool;
let app: FastifyInstance;
/** The write path's retry log lines ('write transaction failed; retrying'), as the server logged them. */
const retries: { attempt: number; waitMs: number }[] = [];
beforeAll(async () => {
  t = await startTestApp();
  faulty = faultyPool(t.appUrl);
  const stream = {
    write(line: string) {
      const entry = JSON.parse(line) as { msg?: string; attempt: number; waitMs: number };
      if (entry.msg === 'write transaction failed; retrying') retries.push({ attempt: entry.attempt, waitMs: entry.waitMs });
    },
  };
  app = (await buildServer({ config: t.config, pool: faulty.pool, lifecycle: t.lifecycle, logger: { level: 'warn', stream } })).app;
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  await faulty?.pool.end();
  await t?.close();
});

async function send(method: 'POST' | 'PATCH', url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({ method, url, payload: body as object, headers: { authorization: `Bearer ${t.org.token}`, ...headers } });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

const countNamed = async (name: string) => Number((await t.admin.query('SELECT count(*) AS n FROM accounts WHERE name = $1', [name])).rows[0].n);

describe('a COMMIT whose answer was lost', () => {
  it('without an Idempotency-Key: found by its receipt, answered once, applied once (even when the database is still unreachable at first)', async () => {
    const name = `Lost ack ${randomUUID()}`;
    faulty.failNextCommit('applied', 2);
    const res = await send('POST', '/api/v1/accounts', { name });
    expect(res.status).toBe(201);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    expect(await countNamed(name)).toBe(1);
    const row = await t.admin.query('SELECT id FROM accounts WHERE name = $1', [name]);
    expect(res.body.id).toBe(row.rows[0].id);
    await sealAudit(t.admin);
    const audits = await t.admin.query(`SELECT count(*)::int AS n FROM audit_log WHERE record_id = $1`, [res.body.id]);
    expect(audits.rows[0].n).toBe(1);
  });

  it('with an Idempotency-Key: our own commit is not reported as a replay; a client retry is', async () => {
    const name = `Lost ack keyed ${randomUUID()}`;
    const key = randomUUID();
    faulty.failNextCommit('applied', 1);
    const first = await send('POST', '/api/v1/accounts', { name }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retry = await send('POST', '/api/v1/accounts', { name }, { 'idempotency-key': key });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.id).toBe(first.body.id);
    expect(await countNamed(name)).toBe(1);
  });

  it('a PATCH whose COMMIT answer was lost bumps the version once', async () => {
    const created = await send('POST', '/api/v1/accounts', { name: `Patch lost ${randomUUID()}` });
    faulty.failNextCommit('applied', 1);
    const res = await send('PATCH', `/api/v1/accounts/${created.body.id}`, { phone: '42' }, { 'if-match': '"1"' });
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(2);
    const row = await t.admin.query('SELECT version FROM accounts WHERE id = $1', [created.body.id]);
    expect(row.rows[0].version).toBe(2);
  });

  it('when the COMMIT never happened, the write is retried and applied exactly once', async () => {
    const name = `Never committed ${randomUUID()}`;
    faulty.failNextCommit('lost', 1);
    const res = await send('POST', '/api/v1/accounts', { name });
    expect(res.status).toBe(201);
    expect(await countNamed(name)).toBe(1);
  });

  it('retries at once when the database answers the receipt check, and backs off while it does not', async () => {
    // The COMMIT never went out and the connection "died"; the receipt check on a fresh
    // connection finds nothing: the database is answering, so waiting helps no one.
    retries.length = 0;
    faulty.failNextCommit('lost');
    const first = await send('POST', '/api/v1/accounts', { name: `Retry at once ${randomUUID()}` });
    expect(first.status).toBe(201);
    expect(retries).toEqual([{ attempt: 1, waitMs: 0 }]);

    // Same, but the next connection is refused: the check fails, so the retry backs off.
    retries.length = 0;
    faulty.failNextCommit('lost', 1);
    const second = await send('POST', '/api/v1/accounts', { name: `Retry later ${randomUUID()}` });
    expect(second.status).toBe(201);
    expect(retries).toHaveLength(1);
    expect(retries[0].waitMs).toBeGreaterThan(0);
  });

  it('the chain is intact after all of it', async () => {
    const v = await app.inject({ method: 'GET', url: '/api/v1/audit/verify', headers: { authorization: `Bearer ${t.org.token}` } });
    expect(v.json()).toMatchObject({ valid: true });
  });
});
