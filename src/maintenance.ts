import type { FastifyBaseLogger } from 'fastify';
import type { KeyStore } from './auth/keys.ts';
import type { Pool } from './db/pool.ts';

/**
 * Periodic housekeeping every node may run (each step is safe to run concurrently):
 * purge expired write receipts, pick up signing keys rotated by other nodes.
 */
export function startMaintenance(deps: { pool: Pool; keys: KeyStore; log: FastifyBaseLogger }): { stop(): void } {
  const timers = [
    setInterval(() => {
      deps.pool
        .query('SELECT basalt_purge_write_receipts(5000) AS n')
        .then((r) => {
          if (r.rows[0].n > 0) deps.log.info({ purged: r.rows[0].n }, 'expired write receipts purged');
        })
        .catch((err: unknown) => deps.log.warn({ err }, 'receipt purge failed'));
    }, 5 * 60_000),
    setInterval(() => {
      deps.keys.ensureSigningKey().catch((err: unknown) => deps.log.warn({ err }, 'signing key refresh failed'));
    }, 5 * 60_000),
  ];
  for (const t of timers) t.unref();
  return { stop: () => timers.forEach(clearInterval) };
}
