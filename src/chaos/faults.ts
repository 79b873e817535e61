import { existsSync } from 'node:fs';
import {
  apiReady,
  type ClusterState,
  patroniCluster,
  startApi,
  startEtcd,
  startNats,
  startPatroni,
  waitHealthyPostgres,
  writeState,
} from '../cluster/cluster.ts';
import { alive, httpJson, postmasterPid, run, signal, sleep, stopPid, waitFor } from '../cluster/proc.ts';

/** Fault injection and repair on the local cluster, by the PIDs and ports in its state file. */

export async function leaderIndex(s: ClusterState): Promise<number> {
  const m = await waitFor('a PostgreSQL leader', async () => (await patroniCluster(s.topology))?.find((x) => x.role === 'leader' && x.state === 'running'), 60_000, 300);
  return s.topology.pg.findIndex((p) => p.name === m.name);
}

export async function replicaIndex(s: ClusterState, role: 'sync_standby' | 'replica'): Promise<number> {
  const m = await waitFor(`a ${role}`, async () => (await patroniCluster(s.topology))?.find((x) => x.role === role), 60_000, 300);
  return s.topology.pg.findIndex((p) => p.name === m.name);
}

export function kill(pid: number | undefined, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid || !alive(pid)) throw new Error(`process ${pid} is not running`);
  signal(pid, sig);
}

export async function waitGone(pid: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(`process ${pid} to exit`, async () => !alive(pid), timeoutMs, 50);
}

export async function restartApi(s: ClusterState, i: number): Promise<void> {
  if (alive(s.pids[s.topology.api[i].name])) return;
  startApi(s, i);
  writeState(s);
  await waitFor(`api${i} ready`, () => apiReady(s.topology.api[i].port), 60_000, 200);
}

export async function restartPatroni(s: ClusterState, i: number): Promise<void> {
  const name = s.topology.pg[i].name;
  if (!alive(s.pids[name])) {
    startPatroni(s, i);
    writeState(s);
  }
}

export async function killPostmaster(s: ClusterState, i: number): Promise<number> {
  const pid = postmasterPid(s.topology.pg[i].dataDir);
  if (!pid) throw new Error(`no postmaster for ${s.topology.pg[i].name}`);
  signal(pid, 'SIGKILL');
  return pid;
}

export async function restartEtcd(s: ClusterState, i: number): Promise<void> {
  if (alive(s.pids[s.topology.etcd[i].name])) return;
  startEtcd(s, i);
  writeState(s);
  const port = s.topology.etcd[i].clientPort;
  await waitFor(`etcd${i} healthy`, async () => (await httpJson(`http://127.0.0.1:${port}/health`)).status === 200, 30_000);
}

export async function restartNats(s: ClusterState, i: number): Promise<void> {
  if (alive(s.pids[s.topology.nats[i].name])) return;
  startNats(s, i);
  writeState(s);
  const port = s.topology.nats[i].monitorPort;
  await waitFor(`nats${i} healthy`, async () => (await httpJson(`http://127.0.0.1:${port}/healthz?js-enabled-only=true`)).status === 200, 30_000);
}

export async function setDbLatency(s: ClusterState, ms: number): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${s.topology.dbProxy.controlPort}/latency?ms=${ms}`, { method: 'PUT' });
  if (r.status !== 200) throw new Error(`latency proxy refused: ${r.status}`);
}

/** Every member healthy again: leader + 2 replicas, etcd ×3, NATS ×3, api ×3 ready. */
export async function waitAllHealthy(s: ClusterState, timeoutMs = 120_000): Promise<void> {
  const t = s.topology;
  await waitHealthyPostgres(t, timeoutMs);
  await waitFor(
    'etcd, NATS and api nodes healthy',
    async () => {
      for (const e of t.etcd) if ((await httpJson(`http://127.0.0.1:${e.clientPort}/health`).catch(() => ({ status: 0 }))).status !== 200) return false;
      for (const n of t.nats) {
        if ((await httpJson(`http://127.0.0.1:${n.monitorPort}/healthz?js-enabled-only=true`).catch(() => ({ status: 0 }))).status !== 200) return false;
      }
      for (const a of t.api) if (!(await apiReady(a.port))) return false;
      return true;
    },
    timeoutMs,
    500,
  );
}

// ---------------------------------------------------------------------------------------
// Network partition with nftables. Everything shares 127.0.0.1, so members are told apart
// by the uid their processes run as (basalt-pg0..2): packets of the isolated member's
// Patroni and PostgreSQL to etcd and to the other members are dropped, and so are the other
// members' packets to its PostgreSQL and REST ports. HAProxy, the api nodes and the chaos
// runner (root) still reach it, as clients on the primary's side of a partition would.
// ---------------------------------------------------------------------------------------
const NFT = '/usr/sbin/nft';
const TABLE = 'basalt_chaos';

export function partitionSupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (nftables)';
  if (!existsSync(NFT)) return 'needs nftables (apt-get install -y nftables)';
  return undefined;
}

function uidOf(user: string): number {
  const r = run('id', ['-u', user]);
  if (r.status !== 0) throw new Error(`no user ${user}`);
  return Number(r.stdout.trim());
}

export function isolateMember(s: ClusterState, i: number): string {
  const t = s.topology;
  const me = uidOf(t.pg[i].user);
  const others = t.pg.filter((_, j) => j !== i);
  const otherUids = others.map((p) => uidOf(p.user));
  const etcdPorts = t.etcd.flatMap((e) => [e.clientPort, e.peerPort]);
  const otherPorts = others.flatMap((p) => [p.pgPort, p.restPort]);
  const ruleset = `table inet ${TABLE} {
  chain out {
    type filter hook output priority 0; policy accept;
    oif "lo" meta skuid ${me} tcp dport { ${[...etcdPorts, ...otherPorts].join(', ')} } drop
    oif "lo" meta skuid { ${otherUids.join(', ')} } tcp dport { ${t.pg[i].pgPort}, ${t.pg[i].restPort} } drop
  }
}
`;
  healPartition();
  const r = run('sh', ['-c', `${NFT} -f - <<'EOF'\n${ruleset}EOF`]);
  if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
  return ruleset;
}

export function healPartition(): void {
  if (existsSync(NFT)) run(NFT, ['delete', 'table', 'inet', TABLE], { quiet: true });
}

export { alive, postmasterPid, sleep, stopPid };
