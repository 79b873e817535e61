import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../support/harness.ts';
import { type OwnDatabaseApp, startOwnDatabaseApp } from '../support/own-postgres.ts';

/**
 * Synchronous replication with the standby gone (what an isolated primary sees): a COMMIT
 * waits for the standby, invisible to others, until the standby confirms, the backend is
 * terminated (a demotion), or the wait is cancelled. A cancelled wait answers the COMMIT
 * with a WARNING — committed locally, maybe not replicated — not an error. Such a write
 * must never be acknowledged: a failover would discard it. The test's own server names a
 * synchronous standby that does not exist, so every commit waits.
 */
let app: OwnDatabaseApp;

beforeAll(async () => {
  app = await startOwnDatabaseApp('sync-standby', { statementTimeoutMs: 300, env: { BASALT_WRITE_DEADLINE_MS: '4000' } });
});
afterAll(async () => {
  await standby('present').catch(() => {});
  await app?.close();
});

/** 'gone': commits wait for a standby named ghost that never connects; 'present': no synchronous standby required. */
async function standby(state: 'gone' | 'present'): Promise<void> {
  const c = await app.admin.connect();
  try {
    // The admin session must not wait for the ghost itself.
    await c.query('SET synchronous_commit = local');
    await c.query(state === 'gone' ? "ALTER SYSTEM SET synchronous_standby_names = 'ghost'" : 'ALTER SYSTEM RESET synchronous_standby_names');
    await c.query('SELECT pg_reload_conf()');
  } finally {
    c.release();
  }
  // The reload reaches the backends asynchronously.
  await new Promise((r) => setTimeout(r, 200));
}

const createLead = (key: string, company: string) =>
  httpRequest(app.baseUrl, 'POST', '/api/v1/leads', {
    token: app.token,
    headers: { 'idempotency-key': key },
    body: { lastName: 'Sync', company },
  });

async function leadsNamed(company: string): Promise<string[]> {
  const res = await app.admin.query<{ id: string }>('SELECT id::text FROM leads WHERE company = $1', [company]);
  return res.rows.map((r) => r.id);
}

/** Waits until one of the application's backends waits for the standby; returns its PID. */
async function syncWaiter(): Promise<number> {
  for (;;) {
    const res = await app.admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE usename = 'basalt_app' AND wait_event = 'SyncRep' LIMIT 1",
    );
    if (res.rows[0]) return res.rows[0].pid;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Cancels the wait (what an operator's pg_cancel_backend, or a client-side cancel, does). */
async function cancelWait(pid: number): Promise<void> {
  await app.admin.query('SELECT pg_cancel_backend($1)', [pid]);
}

describe('commits the synchronous standby did not confirm', () => {
  it('are not acknowledged while the standby is gone, even when the wait is cancelled; the write answers once replicated', async () => {
    await standby('gone');
    const company = `sync-${randomUUID()}`;
    let answered = false;
    const pending = createLead(randomUUID(), company).then((res) => {
      answered = true;
      return res;
    });
    const pid = await syncWaiter();
    // Waiting for the standby: not visible, not answered.
    expect(await leadsNamed(company)).toEqual([]);
    await cancelWait(pid);
    // PostgreSQL ended the wait with a WARNING: the lead is committed locally, but the
    // write path does not acknowledge it; it confirms the receipt with a write that waits again.
    await syncWaiter();
    expect(await leadsNamed(company)).toHaveLength(1);
    expect(answered).toBe(false);
    await standby('present');
    const res = await pending;
    expect(res.status).toBe(201);
    expect(await leadsNamed(company)).toEqual([res.body.id]);
  });

  it('answer 503 at the write deadline; a retry with the same key returns the one record only once replicated', async () => {
    await standby('gone');
    const company = `sync-${randomUUID()}`;
    const key = randomUUID();
    let answered = false;
    const pending = createLead(key, company).then((res) => {
      answered = true;
      return res;
    });
    // Every wait cancelled: each attempt ends unconfirmed, until the write deadline (4 s).
    while (!answered) {
      const pid = await Promise.race([syncWaiter(), pending.then(() => 0)]);
      if (pid) await cancelWait(pid);
    }
    const first = await pending;
    expect(first.status).toBe(503);
    expect(first.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await leadsNamed(company)).toHaveLength(1);

    // The replay finds the receipt, and still waits for the standby before answering.
    let replayed = false;
    const replay = createLead(key, company).then((res) => {
      replayed = true;
      return res;
    });
    await syncWaiter();
    expect(replayed).toBe(false);
    await standby('present');
    const retry = await replay;
    expect(retry.status).toBe(201);
    expect(await leadsNamed(company)).toEqual([retry.body.id]);
  });
});
