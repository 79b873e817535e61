/**
 * A Basalt worker node: the same codebase as an api node, without HTTP. It runs only the
 * background loops every node may run concurrently (today: expiry of write receipts and the
 * audit sealer; the outbox relay and webhook delivery loops run in the api nodes). Used by the local
 * HA cluster (`npm run cluster`) as worker ×2; any number may run.
 */
import { AuditSealer } from './audit/sealer.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import { ensureAppRole } from './db/migrate.ts';
import { createPool, deriveAppRolePassword, withCredentials } from './db/pool.ts';

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL', 'is required for a worker (it shares the api nodes’ database)');
  const name = process.env.BASALT_WORKER_NAME ?? `worker-${process.pid}`;
  const say = (msg: string) => process.stdout.write(`basalt ${name}: ${msg}\n`);
  let appUrl = config.appDatabaseUrl;
  if (!appUrl) {
    const password = config.appDbPassword ?? deriveAppRolePassword(config.databaseUrl);
    await ensureAppRole(config.databaseUrl, config.appDbRole, password);
    appUrl = withCredentials(config.databaseUrl, config.appDbRole, password);
  }
  const pool = createPool({
    url: appUrl,
    max: 2,
    minIdle: config.dbPoolMinIdle,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    applicationName: `basalt-${name}`,
    onError: () => {},
  });
  // Audit entries written by the api nodes are linked into their chains here too (any number of sealers may run).
  const sealer = config.auditSealer ? new AuditSealer({ pool, log: { warn: (o, m) => say(`${m} ${JSON.stringify(o)}`) } }).start() : undefined;
  const loops = [
    setInterval(() => {
      pool.query('SELECT basalt_purge_write_receipts(5000) AS n').catch((err: unknown) => say(`receipt purge failed: ${(err as Error).message}`));
    }, 60_000),
  ];
  say('running');
  const stop = async (signal: string) => {
    say(`${signal}: stopping`);
    for (const l of loops) clearInterval(l);
    await sealer?.stop();
    await pool.end().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`basalt worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
