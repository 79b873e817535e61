import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import pg from 'pg';
import { alive, commandExists, httpJson, portOpen, postmasterPid, run, startDetached, stopPid, waitFor } from './proc.ts';
import {
  etcdArgs,
  haproxyCfg,
  natsConf,
  natsUrls,
  patroniYaml,
  pgUrl,
  STREAM,
  STREAM_SUBJECTS,
  type Topology,
  topology,
} from './topology.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What `up` started, persisted so `status`, `down` and the chaos suite can find every process. */
export interface ClusterState {
  version: 1;
  startedAt: string;
  topology: Topology;
  /** Member name → PID (etcd0, pg0 (Patroni), haproxy, nats0, api0, worker0, ...). */
  pids: Record<string, number>;
}

export const statePath = (dir: string) => path.join(dir, 'state.json');

export function readState(dir = topology().dir): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function writeState(state: ClusterState): void {
  writeFileSync(statePath(state.topology.dir), `${JSON.stringify(state, null, 2)}\n`);
}

const log = (dir: string, name: string) => path.join(dir, 'logs', `${name}.log`);
const isRoot = () => process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------
// Packages
// ---------------------------------------------------------------------------------------
const NEEDED: { bin: string; pkg: string }[] = [
  { bin: '/usr/bin/etcd', pkg: 'etcd-server' },
  { bin: '/usr/bin/etcdctl', pkg: 'etcd-client' },
  { bin: '/usr/bin/patroni', pkg: 'patroni' },
  { bin: '/usr/sbin/haproxy', pkg: 'haproxy' },
  { bin: '/usr/sbin/nats-server', pkg: 'nats-server' },
  { bin: '/usr/lib/postgresql/15/bin/postgres', pkg: 'postgresql-15' },
  // The chaos suite's network partition cuts one member's traffic with nftables.
  { bin: '/usr/sbin/nft', pkg: 'nftables' },
];

/** Installs missing Debian packages when root; otherwise says exactly what to run. */
export function ensurePackages(say: (m: string) => void): void {
  const missing = NEEDED.filter((n) => !existsSync(n.bin)).map((n) => n.pkg);
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (!isRoot()) throw new Error(`missing Debian packages; as root run:\n  ${cmd}`);
  say(`installing ${missing.join(', ')} (${cmd})`);
  process.env.DEBIAN_FRONTEND = 'noninteractive';
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    const r = run('apt-get', args);
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed:\n${r.stderr}`);
  }
  const still = NEEDED.filter((n) => !existsSync(n.bin)).map((n) => n.pkg);
  if (still.length) throw new Error(`still missing after install: ${still.join(', ')}`);
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------
export function startEtcd(s: ClusterState, i: number): number {
  const t = s.topology;
  const pid = startDetached('/usr/bin/etcd', etcdArgs(t, i), { log: log(t.dir, t.etcd[i].name) });
  s.pids[t.etcd[i].name] = pid;
  return pid;
}

/**
 * PostgreSQL refuses root, so as root each member's Patroni runs as its own system account
 * (basalt-pg0..2, made on first use, like `postgres` but one per member so that nftables can
 * match a member's packets by uid: everything shares 127.0.0.1). setpriv keeps the PID.
 */
export function startPatroni(s: ClusterState, i: number): number {
  const t = s.topology;
  const p = t.pg[i];
  const [cmd, args] = isRoot()
    ? ['/usr/bin/setpriv', [`--reuid=${p.user}`, `--regid=${p.user}`, '--init-groups', '/usr/bin/patroni', p.configFile]]
    : ['/usr/bin/patroni', [p.configFile]];
  const env = { ...process.env, HOME: p.dir, PATH: `/usr/lib/postgresql/15/bin:${process.env.PATH ?? ''}` };
  const pid = startDetached(cmd as string, args as string[], { log: log(t.dir, p.name), env, cwd: p.dir });
  s.pids[p.name] = pid;
  return pid;
}

export function startDbProxy(s: ClusterState): number {
  const t = s.topology;
  const pid = startDetached(
    process.execPath,
    [...nodeArgs('src/cluster/tcp-proxy.ts'), String(t.dbProxy.port), String(t.haproxy.writePort), String(t.dbProxy.controlPort)],
    { log: log(t.dir, 'dbproxy'), cwd: REPO_ROOT },
  );
  s.pids.dbproxy = pid;
  return pid;
}

export function startHaproxy(s: ClusterState): number {
  const t = s.topology;
  const pid = startDetached('/usr/sbin/haproxy', ['-f', t.haproxy.configFile, '-db'], { log: log(t.dir, 'haproxy') });
  s.pids.haproxy = pid;
  return pid;
}

export function startNats(s: ClusterState, i: number): number {
  const t = s.topology;
  const n = t.nats[i];
  const pid = startDetached('/usr/sbin/nats-server', ['-c', n.configFile], { log: log(t.dir, n.name) });
  s.pids[n.name] = pid;
  return pid;
}

export function appEnv(t: Topology, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: pgUrl(t, t.dbProxy.port),
    BASALT_HOST: '127.0.0.1',
    BASALT_NATS_URL: natsUrls(t),
    BASALT_ADMIN_EMAIL: t.adminEmail,
    BASALT_ADMIN_PASSWORD: t.adminPassword,
    BASALT_DRAIN_DELAY_MS: '2000',
    // Covers a Patroni-leader kill (leader key ttl 10 s + promotion) with margin.
    BASALT_WRITE_DEADLINE_MS: '25000',
    // On loopback a healthy connect takes milliseconds; one that waits longer is queued in
    // HAProxy behind a dead primary, so give up early and let the write path retry.
    BASALT_DB_CONNECT_TIMEOUT_MS: '750',
    // Behind HAProxy: rate limits must see the client's address.
    BASALT_TRUST_PROXY: '1',
    BASALT_ACCESS_TOKEN_TTL_SECONDS: '7200',
    BASALT_DB_POOL_SIZE: '10',
    BASALT_LOG_LEVEL: 'warn',
    // Events: the replicated stream, and webhook retries short enough to recover inside an experiment.
    BASALT_NATS_STREAM_REPLICAS: '3',
    BASALT_WEBHOOK_RETRY_BASE_MS: '1000',
    BASALT_WEBHOOK_MAX_RETRIES: '8',
    ...extra,
  };
}

const nodeArgs = (entry: string) => ['--disable-warning=ExperimentalWarning', path.join(REPO_ROOT, entry)];

export function startApi(s: ClusterState, i: number): number {
  const t = s.topology;
  const a = t.api[i];
  const pid = startDetached(process.execPath, nodeArgs('src/main.ts'), {
    log: log(t.dir, a.name),
    env: appEnv(t, { PORT: String(a.port) }),
    cwd: REPO_ROOT,
  });
  s.pids[a.name] = pid;
  return pid;
}

export function startWorker(s: ClusterState, i: number): number {
  const t = s.topology;
  const w = t.workers[i];
  const pid = startDetached(process.execPath, nodeArgs('src/worker.ts'), {
    log: log(t.dir, w.name),
    env: appEnv(t, { BASALT_WORKER_NAME: w.name }),
    cwd: REPO_ROOT,
  });
  s.pids[w.name] = pid;
  return pid;
}

// ---------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------
export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  host?: string;
  port?: number;
  timeline?: number;
  lag?: number | string;
}

/** Patroni's view of the cluster, from the first member whose REST API answers. */
export async function patroniCluster(t: Topology): Promise<PatroniMember[] | undefined> {
  for (const p of t.pg) {
    try {
      const r = await httpJson(`http://127.0.0.1:${p.restPort}/cluster`, 800);
      if (r.status === 200) return (r.body as { members: PatroniMember[] }).members;
    } catch {
      // try the next member
    }
  }
  return undefined;
}

export async function waitHealthyPostgres(t: Topology, timeoutMs: number, replicas = 2): Promise<PatroniMember[]> {
  return waitFor(
    `Patroni: a leader and ${replicas} streaming replicas (one synchronous)`,
    async () => {
      const m = await patroniCluster(t);
      if (!m) return undefined;
      const leader = m.filter((x) => x.role === 'leader' && x.state === 'running');
      const reps = m.filter((x) => x.role !== 'leader' && (x.state === 'streaming' || x.state === 'running'));
      const sync = m.some((x) => x.role === 'sync_standby');
      return leader.length === 1 && reps.length >= replicas && (replicas === 0 || sync) ? m : undefined;
    },
    timeoutMs,
    500,
  );
}

async function sql(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

async function ensureDatabases(t: Topology): Promise<void> {
  const admin = pgUrl(t, t.haproxy.writePort, 'postgres');
  for (const db of [t.database, 'chaos']) {
    await waitFor(
      `database ${db}`,
      async () => {
        const r = await sql(admin, `SELECT 1 FROM pg_database WHERE datname = '${db}'`);
        if (r.rowCount === 0) await sql(admin, `CREATE DATABASE ${db}`);
        return true;
      },
      30_000,
      500,
    );
  }
}

/** The replicated (R3) event stream; the outbox relay re-asserts the same config. */
async function ensureStream(t: Topology): Promise<void> {
  await waitFor(
    'JetStream stream (R3)',
    async () => {
      const nc = await connect({ servers: natsUrls(t).split(','), timeout: 2000 });
      try {
        const jsm = await jetstreamManager(nc);
        const config = { subjects: [STREAM_SUBJECTS], num_replicas: 3, duplicate_window: nanos(120_000) };
        try {
          await jsm.streams.info(STREAM);
        } catch {
          await jsm.streams.add({ name: STREAM, ...config });
        }
        return true;
      } finally {
        await nc.close();
      }
    },
    60_000,
    1000,
  );
}

export async function apiReady(port: number): Promise<boolean> {
  try {
    return (await httpJson(`http://127.0.0.1:${port}/readyz`, 1000)).status === 200;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// up / down / status
// ---------------------------------------------------------------------------------------
function ensureUser(user: string): number {
  let id = run('id', ['-u', user]);
  if (id.status !== 0) {
    const r = run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', user]);
    if (r.status !== 0) throw new Error(`useradd ${user} failed: ${r.stderr}`);
    id = run('id', ['-u', user]);
  }
  return Number(id.stdout.trim());
}

function prepareDirs(t: Topology): void {
  mkdirSync(path.join(t.dir, 'logs'), { recursive: true });
  chmodSync(t.dir, 0o755);
  for (const e of t.etcd) mkdirSync(e.dataDir, { recursive: true, mode: 0o700 });
  for (const n of t.nats) mkdirSync(n.storeDir, { recursive: true });
  for (const [i, p] of t.pg.entries()) {
    const pgUid = isRoot() ? ensureUser(p.user) : undefined;
    const pgGid = isRoot() ? Number(run('id', ['-g', p.user]).stdout.trim()) : undefined;
    mkdirSync(p.dir, { recursive: true, mode: 0o700 });
    writeFileSync(p.configFile, patroniYaml(t, i));
    writeFileSync(log(t.dir, p.name), '');
    if (pgUid !== undefined && pgGid !== undefined) {
      chownSync(p.dir, pgUid, pgGid);
      chownSync(p.configFile, pgUid, pgGid);
    }
  }
  writeFileSync(t.haproxy.configFile, haproxyCfg(t));
  for (const [i, n] of t.nats.entries()) writeFileSync(n.configFile, natsConf(t, i));
}

export async function up(say: (m: string) => void): Promise<ClusterState> {
  const t = topology();
  const existing = readState(t.dir);
  if (existing && Object.values(existing.pids).some((pid) => alive(pid))) {
    throw new Error(`a cluster is already running (state in ${statePath(t.dir)}); run \`npm run cluster -- down\` first`);
  }
  ensurePackages(say);
  if (!commandExists('setpriv') && isRoot()) throw new Error('setpriv (util-linux) is needed to run Patroni as postgres');
  for (const port of [
    ...t.etcd.flatMap((e) => [e.clientPort, e.peerPort]),
    ...t.pg.flatMap((p) => [p.restPort, p.pgPort]),
    t.haproxy.writePort,
    t.haproxy.readPort,
    t.haproxy.httpPort,
    t.dbProxy.port,
    t.dbProxy.controlPort,
    ...t.nats.flatMap((n) => [n.port, n.clusterPort, n.monitorPort]),
    ...t.api.map((a) => a.port),
  ]) {
    if (await portOpen(port)) throw new Error(`port ${port} on 127.0.0.1 is taken (set BASALT_CLUSTER_PORT_BASE to move the cluster)`);
  }
  rmSync(t.dir, { recursive: true, force: true });
  prepareDirs(t);
  const s: ClusterState = { version: 1, startedAt: new Date().toISOString(), topology: t, pids: {} };
  const started = Date.now();
  const step = (m: string) => say(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${m}`);
  try {
    step('etcd ×3');
    for (const i of [0, 1, 2]) startEtcd(s, i);
    writeState(s);
    await waitFor(
      'etcd health',
      async () => {
        for (const e of t.etcd) if ((await httpJson(`http://127.0.0.1:${e.clientPort}/health`)).status !== 200) return false;
        return true;
      },
      30_000,
    );
    step('Patroni ×3 (PostgreSQL 15, synchronous_mode)');
    startPatroni(s, 0);
    writeState(s);
    await waitFor('the first PostgreSQL primary', async () => (await patroniCluster(t))?.some((m) => m.role === 'leader' && m.state === 'running'), 90_000, 500);
    startPatroni(s, 1);
    startPatroni(s, 2);
    writeState(s);
    step('HAProxy + database latency proxy');
    startHaproxy(s);
    startDbProxy(s);
    step('NATS ×3 (JetStream cluster)');
    for (const i of [0, 1, 2]) startNats(s, i);
    writeState(s);
    await waitHealthyPostgres(t, 120_000);
    step('PostgreSQL: leader + 2 streaming replicas (1 synchronous)');
    await ensureDatabases(t);
    await ensureStream(t);
    step('JetStream stream BASALT_EVENTS (R3)');
    step('api ×3 + worker ×2');
    // The first node applies the migrations; the others then start against a current schema.
    startApi(s, 0);
    writeState(s);
    await waitFor('api0 ready (migrations applied)', () => apiReady(t.api[0].port), 120_000, 300);
    for (const i of [1, 2]) startApi(s, i);
    writeState(s);
    await waitFor('api nodes ready', async () => (await Promise.all(t.api.map((a) => apiReady(a.port)))).every(Boolean), 120_000, 500);
    for (const i of [0, 1]) startWorker(s, i);
    writeState(s);
    await waitFor('the load balancer', async () => (await httpJson(`http://127.0.0.1:${t.haproxy.httpPort}/readyz`)).status === 200, 30_000);
    await waitFor('workers', async () => t.workers.every((w) => alive(s.pids[w.name])) && Date.now() - started > 0, 5_000);
    step('cluster up');
    return s;
  } catch (err) {
    say(`start failed: ${(err as Error).message}; logs in ${path.join(t.dir, 'logs')}`);
    throw err;
  }
}

/** Stops every process by the PID recorded for it (api/workers first, the DCS last), then removes the data. */
export async function down(say: (m: string) => void, opts: { keepData?: boolean } = {}): Promise<void> {
  const t = topology();
  const s = readState(t.dir);
  if (!s) {
    say(`no cluster state in ${t.dir}`);
    if (!opts.keepData) rmSync(t.dir, { recursive: true, force: true });
    return;
  }
  const order = (name: string) =>
    /^(api|worker|chaos)/.test(name) ? 0 : name === 'haproxy' || name === 'dbproxy' ? 1 : /^nats/.test(name) ? 2 : /^pg/.test(name) ? 3 : 4;
  const names = Object.keys(s.pids).sort((a, b) => order(a) - order(b));
  for (const group of [0, 1, 2, 3, 4]) {
    const members = names.filter((n) => order(n) === group);
    await Promise.all(
      members.map(async (n) => {
        const pid = s.pids[n];
        if (alive(pid)) await stopPid(pid, 'SIGTERM', 15_000);
      }),
    );
    // Patroni stops its postmaster; if Patroni was SIGKILLed earlier, the postmaster is an orphan.
    if (group === 3) {
      for (const p of s.topology.pg) {
        const pm = postmasterPid(p.dataDir);
        if (pm) await stopPid(pm, 'SIGINT', 15_000);
      }
    }
  }
  // A chaos run that died mid-partition must not leave its nftables rules behind.
  if (isRoot() && existsSync('/usr/sbin/nft')) run('/usr/sbin/nft', ['delete', 'table', 'inet', 'basalt_chaos'], { quiet: true });
  say(`stopped ${names.length} processes`);
  if (!opts.keepData) {
    rmSync(s.topology.dir, { recursive: true, force: true });
    say(`removed ${s.topology.dir}`);
  }
}

export interface ClusterStatus {
  up: boolean;
  dir: string;
  apiUrl: string;
  postgres: { writeUrl: string; readUrl: string; members: { name: string; role: string; state: string; port: number; restUrl: string; patroniPid: number | null; postmasterPid: number | null; timeline: number | null; lag: number | string | null }[] };
  etcd: { name: string; url: string; pid: number | null; healthy: boolean }[];
  haproxy: { pid: number | null; statsUrl: string; writePort: number; readPort: number; httpPort: number };
  dbProxy: { pid: number | null; url: string; controlUrl: string };
  nats: { name: string; url: string; pid: number | null; healthy: boolean; jetstream: boolean }[];
  api: { name: string; url: string; pid: number | null; ready: boolean }[];
  workers: { name: string; pid: number | null; alive: boolean }[];
  admin: { email: string; password: string };
}

export async function status(): Promise<ClusterStatus | undefined> {
  const t0 = topology();
  const s = readState(t0.dir);
  if (!s) return undefined;
  const t = s.topology;
  const pidOf = (n: string) => (alive(s.pids[n]) ? s.pids[n] : null);
  const members = (await patroniCluster(t)) ?? [];
  const etcd = await Promise.all(
    t.etcd.map(async (e) => ({
      name: e.name,
      url: `http://127.0.0.1:${e.clientPort}`,
      pid: pidOf(e.name),
      healthy: await httpJson(`http://127.0.0.1:${e.clientPort}/health`).then((r) => r.status === 200, () => false),
    })),
  );
  const nats = await Promise.all(
    t.nats.map(async (n) => ({
      name: n.name,
      url: `nats://127.0.0.1:${n.port}`,
      pid: pidOf(n.name),
      healthy: await httpJson(`http://127.0.0.1:${n.monitorPort}/healthz`).then((r) => r.status === 200, () => false),
      jetstream: await httpJson(`http://127.0.0.1:${n.monitorPort}/healthz?js-enabled-only=true`).then((r) => r.status === 200, () => false),
    })),
  );
  const api = await Promise.all(
    t.api.map(async (a) => ({ name: a.name, url: `http://127.0.0.1:${a.port}`, pid: pidOf(a.name), ready: await apiReady(a.port) })),
  );
  const pgMembers = t.pg.map((p) => {
    const m = members.find((x) => x.name === p.name);
    return {
      name: p.name,
      role: m?.role ?? 'down',
      state: m?.state ?? 'unreachable',
      port: p.pgPort,
      restUrl: `http://127.0.0.1:${p.restPort}`,
      patroniPid: pidOf(p.name),
      postmasterPid: postmasterPid(p.dataDir) ?? null,
      timeline: m?.timeline ?? null,
      lag: m?.lag ?? null,
    };
  });
  const allUp =
    etcd.every((e) => e.healthy) &&
    pgMembers.filter((m) => m.role === 'leader').length === 1 &&
    pgMembers.every((m) => m.state === 'running' || m.state === 'streaming') &&
    nats.every((n) => n.healthy) &&
    api.every((a) => a.ready) &&
    alive(s.pids.haproxy) &&
    alive(s.pids.dbproxy);
  return {
    up: allUp,
    dir: t.dir,
    apiUrl: `http://127.0.0.1:${t.haproxy.httpPort}`,
    postgres: { writeUrl: pgUrl(t, t.haproxy.writePort), readUrl: pgUrl(t, t.haproxy.readPort), members: pgMembers },
    etcd,
    haproxy: { pid: pidOf('haproxy'), statsUrl: `http://127.0.0.1:${t.haproxy.statsPort}/`, writePort: t.haproxy.writePort, readPort: t.haproxy.readPort, httpPort: t.haproxy.httpPort },
    dbProxy: { pid: pidOf('dbproxy'), url: pgUrl(t, t.dbProxy.port), controlUrl: `http://127.0.0.1:${t.dbProxy.controlPort}/latency` },
    nats,
    api,
    workers: t.workers.map((w) => ({ name: w.name, pid: pidOf(w.name), alive: pidOf(w.name) !== null })),
    admin: { email: t.adminEmail, password: t.adminPassword },
  };
}

export function hostSummary(): string {
  return `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
}
