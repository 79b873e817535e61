import path from 'node:path';

/**
 * The local HA topology, as data: every member's name, ports and paths. Everything binds
 * to 127.0.0.1. Ports are BASE + a fixed offset (BASALT_CLUSTER_PORT_BASE, default 17000),
 * so a developer's own PostgreSQL (5432) and NATS (4222) are never in the way.
 */
export interface Topology {
  dir: string;
  base: number;
  etcd: { name: string; clientPort: number; peerPort: number; dataDir: string }[];
  /** user: the OS account Patroni/PostgreSQL of this member run as (one per member when root, so nftables can cut one member's traffic by its uid). */
  pg: { name: string; user: string; restPort: number; pgPort: number; dir: string; dataDir: string; configFile: string }[];
  haproxy: { writePort: number; readPort: number; httpPort: number; statsPort: number; configFile: string };
  /** TCP proxy in the api/worker nodes' database path (latency injection): listen → HAProxy write port. */
  dbProxy: { port: number; controlPort: number };
  nats: { name: string; port: number; clusterPort: number; monitorPort: number; storeDir: string; configFile: string }[];
  api: { name: string; port: number }[];
  workers: { name: string }[];
  /** Ports the chaos suite may use for its own TCP proxies and webhook targets. */
  chaosPortBase: number;
  superuserPassword: string;
  replicationPassword: string;
  adminEmail: string;
  adminPassword: string;
  database: string;
}

export const SCOPE = 'basalt';
export const STREAM = 'BASALT_EVENTS';
export const STREAM_SUBJECTS = 'basalt.events.>';

export function clusterDir(): string {
  return process.env.BASALT_CLUSTER_DIR ?? path.join(process.env.TMPDIR ?? '/tmp', 'basalt-cluster');
}

export function topology(dir = clusterDir(), base = Number(process.env.BASALT_CLUSTER_PORT_BASE ?? 17000)): Topology {
  const three = [0, 1, 2];
  return {
    dir,
    base,
    etcd: three.map((i) => ({
      name: `etcd${i}`,
      clientPort: base + 10 + i * 2,
      peerPort: base + 11 + i * 2,
      dataDir: path.join(dir, `etcd${i}`),
    })),
    pg: three.map((i) => ({
      name: `pg${i}`,
      user: process.getuid?.() === 0 ? `basalt-pg${i}` : (process.env.USER ?? 'postgres'),
      restPort: base + 20 + i,
      pgPort: base + 30 + i,
      dir: path.join(dir, `pg${i}`),
      dataDir: path.join(dir, `pg${i}`, 'data'),
      configFile: path.join(dir, `pg${i}`, 'patroni.yml'),
    })),
    haproxy: {
      writePort: base + 40,
      readPort: base + 41,
      httpPort: base + 42,
      statsPort: base + 43,
      configFile: path.join(dir, 'haproxy.cfg'),
    },
    dbProxy: { port: base + 44, controlPort: base + 45 },
    nats: three.map((i) => ({
      name: `nats${i}`,
      port: base + 50 + i,
      clusterPort: base + 60 + i,
      monitorPort: base + 70 + i,
      storeDir: path.join(dir, `nats${i}`),
      configFile: path.join(dir, `nats${i}.conf`),
    })),
    api: three.map((i) => ({ name: `api${i}`, port: base + 80 + i })),
    workers: [0, 1].map((i) => ({ name: `worker${i}` })),
    chaosPortBase: base + 100,
    // Local, throwaway cluster on loopback: fixed passwords keep `status --json` reproducible.
    superuserPassword: 'basalt-cluster-su',
    replicationPassword: 'basalt-cluster-repl',
    adminEmail: 'admin@basalt.local',
    adminPassword: 'chaos-admin-password',
    database: 'basalt',
  };
}

export const pgUrl = (t: Topology, port: number, database = t.database): string =>
  `postgres://postgres:${t.superuserPassword}@127.0.0.1:${port}/${database}`;

export const etcdHosts = (t: Topology): string => t.etcd.map((e) => `127.0.0.1:${e.clientPort}`).join(',');
export const natsUrls = (t: Topology): string => t.nats.map((n) => `nats://127.0.0.1:${n.port}`).join(',');

export function etcdArgs(t: Topology, i: number): string[] {
  const e = t.etcd[i];
  return [
    '--name', e.name,
    '--data-dir', e.dataDir,
    '--listen-client-urls', `http://127.0.0.1:${e.clientPort}`,
    '--advertise-client-urls', `http://127.0.0.1:${e.clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${e.peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${e.peerPort}`,
    '--initial-cluster', t.etcd.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(','),
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', 'basalt-local',
    '--heartbeat-interval', '100',
    '--election-timeout', '1000',
    '--log-level', 'warn',
  ];
}

/**
 * Patroni 3.0.2 (Debian 12). ttl/loop_wait/retry_timeout are the tightest values it accepts
 * (loop_wait + 2 × retry_timeout ≤ ttl). primary_start_timeout: 0 turns a crashed primary
 * postmaster into a failover instead of an in-place restart. failsafe_mode: a leader that
 * cannot update its lock because etcd itself is failing (not because another member holds
 * it) stays primary while it can reach every other member's REST API, instead of demoting
 * itself: without it, killing the etcd raft leader (quorum intact) once cost 8.4 s of
 * writes when the leader's lock update timed out during etcd's re-election. A primary cut
 * off from the other members still demotes (the partition experiment).
 */
export function patroniYaml(t: Topology, i: number): string {
  const p = t.pg[i];
  return `scope: ${SCOPE}
namespace: /basalt/
name: ${p.name}
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:${p.restPort}
  connect_address: 127.0.0.1:${p.restPort}
etcd3:
  hosts: ${etcdHosts(t)}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    failsafe_mode: true
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        wal_keep_size: 256MB
  initdb:
    - encoding: UTF8
    - data-checksums
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:${p.pgPort}
  connect_address: 127.0.0.1:${p.pgPort}
  data_dir: ${p.dataDir}
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: ${path.join(p.dir, 'pgpass')}
  # A rewind that fails half-way (its source demoted or unreachable mid-copy) leaves a data
  # directory PostgreSQL cannot start (seen in the partition experiment: an empty
  # pg_hba.conf, and the member down for good). Clone it again from the leader instead.
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser:
      username: postgres
      password: ${t.superuserPassword}
    replication:
      username: replicator
      password: ${t.replicationPassword}
    rewind:
      username: postgres
      password: ${t.superuserPassword}
  parameters:
    unix_socket_directories: '${p.dir}'
    shared_buffers: 64MB
    fsync: 'on'
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
`;
}

/**
 * HAProxy: PostgreSQL write (Patroni `GET /primary`) and read (`GET /replica`) frontends,
 * and an HTTP frontend over the api nodes. The api backend is health-checked with /readyz;
 * when no node is ready (the database itself is failing over, so every /readyz is 503) the
 * frontend falls back to the nodes that are merely alive (/livez): their write path retries
 * through the failover, which is better than HAProxy answering 503 at once.
 * Layer-7 retries (other node, `redispatch`) only for requests that are safe to resend:
 * GET/HEAD/OPTIONS, and writes carrying an Idempotency-Key.
 */
export function haproxyCfg(t: Topology): string {
  const h = t.haproxy;
  const pgServers = t.pg
    .map((p) => `  server ${p.name} 127.0.0.1:${p.pgPort} check port ${p.restPort}`)
    .join('\n');
  const apiServers = t.api.map((a) => `  server ${a.name} 127.0.0.1:${a.port} check`).join('\n');
  // Both PostgreSQL frontends. HAProxy waits min(timeout connect, 1 s) before retrying a
  // refused connect: short, so a client arriving while a dead primary is not yet marked down
  // is not held for a second; a down member is re-checked every 100 ms.
  const pgChecks = `  timeout connect 200ms
  http-check expect status 200
  default-server inter 300ms fastinter 100ms downinter 100ms fall 2 rise 1 on-marked-down shutdown-sessions`;
  const apiRetries = `  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout 502 503 504
  http-request disable-l7-retry if !{ method GET HEAD OPTIONS } !{ req.hdr(idempotency-key) -m found }
  default-server inter 500ms fall 2 rise 2`;
  return `global
  maxconn 4000
  log stdout format raw local0 warning

defaults
  log global
  timeout connect 1s
  timeout client 60m
  timeout server 60m
  timeout check 1s

listen stats
  mode http
  bind 127.0.0.1:${h.statsPort}
  stats enable
  stats uri /

listen pg_write
  mode tcp
  bind 127.0.0.1:${h.writePort}
  option httpchk GET /primary
${pgChecks}
${pgServers}

listen pg_read
  mode tcp
  bind 127.0.0.1:${h.readPort}
  balance roundrobin
  option httpchk GET /replica
${pgChecks}
${pgServers}

frontend api
  mode http
  bind 127.0.0.1:${h.httpPort}
  option forwardfor
  timeout client 60s
  use_backend api_live if { nbsrv(api_ready) eq 0 }
  default_backend api_ready

backend api_ready
  mode http
  balance roundrobin
  timeout server 60s
  option httpchk GET /readyz
  http-check expect status 200
${apiRetries}
${apiServers}

backend api_live
  mode http
  balance roundrobin
  timeout server 60s
  option httpchk GET /livez
  http-check expect status 200
${apiRetries}
${apiServers}
`;
}

export function natsConf(t: Topology, i: number): string {
  const n = t.nats[i];
  const routes = t.nats
    .filter((_, j) => j !== i)
    .map((m) => `    nats://127.0.0.1:${m.clusterPort}`)
    .join('\n');
  return `server_name: ${n.name}
listen: 127.0.0.1:${n.port}
http: 127.0.0.1:${n.monitorPort}
jetstream {
  store_dir: "${n.storeDir}"
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: basalt
  listen: 127.0.0.1:${n.clusterPort}
  routes: [
${routes}
  ]
}
`;
}
