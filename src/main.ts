import { bootstrapFirstOrganization } from './auth/bootstrap.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './db/embedded.ts';
import { ensureAppRole, loadMigrations, migrate } from './db/migrate.ts';
import { createPool, deriveAppRolePassword, withCredentials } from './db/pool.ts';
import type { Lifecycle } from './health/health.routes.ts';
import { startEventPipeline } from './events/pipeline.ts';
import { buildServer } from './server.ts';
import { startMaintenance } from './maintenance.ts';
import { AuditSealer } from './audit/sealer.ts';
import { gracefulShutdown } from './lifecycle.ts';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`basalt: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const say = (msg: string) => process.stdout.write(`basalt: ${msg}\n`);
  const started = Date.now();

  let embedded: EmbeddedDatabase | undefined;
  let adminUrl = config.databaseUrl;
  if (!adminUrl) {
    say(`starting embedded PostgreSQL (data in ${config.dataDir}, port ${config.embeddedPgPort})`);
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort });
    startedDatabase = embedded;
    adminUrl = embedded.url;
  }
  // A signal during start-up must not orphan the embedded PostgreSQL server.
  const stopDuringStartup = (signal: NodeJS.Signals) => {
    say(`${signal} during start-up: stopping`);
    void (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  process.once('SIGTERM', stopDuringStartup);
  process.once('SIGINT', stopDuringStartup);

  // Read what this build expects before migrating: everything migrate() applies is then at
  // least this, so /readyz can never wait for a migration this process did not apply.
  const expectedMigration = Math.max(...(await loadMigrations()).map((m) => m.version));
  const applied = await migrate(adminUrl, say);
  let appUrl = config.appDatabaseUrl;
  if (!appUrl) {
    const password = config.appDbPassword ?? deriveAppRolePassword(adminUrl);
    await ensureAppRole(adminUrl, config.appDbRole, password);
    appUrl = withCredentials(adminUrl, config.appDbRole, password);
  }
  await bootstrapFirstOrganization(
    adminUrl,
    { organizationName: config.organizationName, adminEmail: config.adminEmail ?? 'admin@basalt.local', adminPassword: config.adminPassword },
    say,
  );

  const lifecycle: Lifecycle = { draining: false, expectedMigration };
  const pool = createPool({
    url: appUrl,
    max: config.dbPoolSize,
    minIdle: config.dbPoolMinIdle,
    connectTimeoutMs: config.connectTimeoutMs,
    statementTimeoutMs: config.statementTimeoutMs,
    applicationName: 'basalt-api',
    onError: (err) => server.app.log.warn({ err: err.message }, 'idle database connection failed; discarded'),
  });
  const server = await buildServer({ config, pool, lifecycle });
  const maintenance = startMaintenance({ pool, keys: server.keys, log: server.app.log });
  const sealer = config.auditSealer ? new AuditSealer({ pool, doorbell: server.events.sealDoorbell, log: server.app.log }).start() : undefined;
  const events = config.outboxRelay ? startEventPipeline({ config, pool, hub: server.events, log: server.app.log, metrics: server.metrics }) : undefined;
  await server.app.listen({ port: config.port, host: config.host });
  say(`ready on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port} in ${Date.now() - started} ms (${applied} migrations applied)`);

  process.off('SIGTERM', stopDuringStartup);
  process.off('SIGINT', stopDuringStartup);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const outcome = await gracefulShutdown(
      {
        lifecycle,
        drainDelayMs: config.drainDelayMs,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        closeServer: () => server.app.close(),
        release: [
          () => maintenance.stop(),
          async () => {
            await events?.stop();
          },
          async () => {
            await sealer?.stop();
          },
          () => pool.end().catch(() => {}),
          async () => {
            await embedded?.stop();
          },
        ],
        say,
      },
      signal,
    );
    process.exit(outcome.exitCode);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** The embedded PostgreSQL this process started, so a failed start-up does not leave it running. */
let startedDatabase: EmbeddedDatabase | undefined;

main().catch(async (err: unknown) => {
  process.stderr.write(`basalt: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  await startedDatabase?.stop().catch(() => {});
  process.exit(1);
});
