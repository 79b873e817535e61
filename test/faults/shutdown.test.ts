import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gracefulShutdown } from '../../src/lifecycle.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

/** §5 graceful shutdown: the SIGTERM sequence of src/main.ts, run in-process. */

async function withSlowCreates(t: TestApp, seconds: number): Promise<void> {
  await t.admin.query(`
    CREATE FUNCTION slow_create() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.name LIKE 'slow:%' THEN PERFORM pg_sleep(${seconds}); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER slow_create BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION slow_create();`);
}

async function untilSleeping(t: TestApp): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const res = await t.admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()`);
    if (res.rowCount) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the slow request never started');
}

describe('graceful shutdown', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await withSlowCreates(t, 1);
  });
  afterAll(async () => t?.close());

  it('goes unready at once, keeps serving through the drain, lets the in-flight request finish, exits 0', async () => {
    expect((await t.request('GET', '/readyz')).status).toBe(200);
    const slow = t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'slow:in-flight' } });
    await untilSleeping(t);

    let endDrain!: () => void;
    const drained = new Promise<void>((r) => {
      endDrain = r;
    });
    const released: string[] = [];
    const shutdown = gracefulShutdown({
      lifecycle: t.lifecycle,
      drainDelayMs: 2000,
      shutdownTimeoutMs: 30_000,
      closeServer: () => t.server.app.close(),
      release: [() => void released.push('jobs'), () => void released.push('pool')],
      // The drain lasts exactly as long as this test needs to look at it.
      sleep: () => drained,
    });

    const ready = await t.request('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('draining');
    expect((await t.request('GET', '/livez')).status).toBe(200);
    const during = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'created while draining' } });
    expect(during.status).toBe(201);
    expect(during.headers.get('connection')).toBe('close'); // keep-alive clients move on
    endDrain();

    const outcome = await shutdown;
    expect(outcome).toEqual({ exitCode: 0, reason: 'clean' });
    expect(released).toEqual(['jobs', 'pool']);
    const finished = await slow;
    expect(finished.status).toBe(201);
    const rows = await t.admin.query(`SELECT count(*)::int AS n FROM accounts WHERE name = 'slow:in-flight'`);
    expect(rows.rows[0].n).toBe(1);
    // Closed: new connections are refused.
    await expect(fetch(`${t.url}/livez`)).rejects.toThrow();
  });
});

describe('graceful shutdown deadline', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
    await withSlowCreates(t, 2);
  });
  afterAll(async () => t?.close());

  it('gives up with exit code 1 when in-flight work outlasts the deadline', async () => {
    const slow = t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'slow:too-long' } });
    await untilSleeping(t);
    const outcome = await gracefulShutdown({
      lifecycle: t.lifecycle,
      drainDelayMs: 0,
      shutdownTimeoutMs: 100,
      closeServer: () => t.server.app.close(),
    });
    expect(outcome).toEqual({ exitCode: 1, reason: 'deadline' });
    await slow.catch(() => undefined);
  });
});
