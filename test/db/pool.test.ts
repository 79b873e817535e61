import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

async function burst(pool: Pool, n: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  for (const c of clients) c.release();
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
}

describe('database pool', () => {
  it('keeps minIdle connections open after a burst and closes the rest when idle', async () => {
    const keep = createPool({ url: t.adminUrl, max: 6, minIdle: 2, idleMs: 100, connectTimeoutMs: 3000, applicationName: 'pool-test-keep' });
    const shrink = createPool({ url: t.adminUrl, max: 6, idleMs: 100, connectTimeoutMs: 3000, applicationName: 'pool-test-shrink' });
    try {
      // Counted right after each burst: nothing can have idled out before the next await.
      await burst(keep, 6);
      expect(keep.totalCount).toBe(6);
      await burst(shrink, 6);
      expect(shrink.totalCount).toBe(6);
      await until(() => shrink.totalCount === 0 && keep.totalCount === 2);
      expect(shrink.totalCount).toBe(0);
      expect(keep.totalCount).toBe(2);
      // Still two well after the idle timeout: the kept ones are not closed later either.
      await new Promise((r) => setTimeout(r, 300));
      expect(keep.idleCount).toBe(2);
      const open = await t.admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pool-test-keep'");
      expect(open.rows[0].n).toBe(2);
    } finally {
      await keep.end();
      await shrink.end();
    }
  });

  it('discards a kept connection the server ended and answers the next query on a fresh one', async () => {
    const pool = createPool({ url: t.adminUrl, max: 3, minIdle: 3, idleMs: 100, connectTimeoutMs: 3000, applicationName: 'pool-test-kill' });
    try {
      await burst(pool, 3);
      const killed = await t.admin.query(
        "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'pool-test-kill'",
      );
      expect(killed.rows[0].n).toBe(3);
      await until(() => pool.totalCount === 0);
      expect(pool.totalCount).toBe(0);
      expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
