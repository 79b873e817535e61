import http from 'node:http';
import pg from 'pg';
import { patroniCluster } from '../cluster/cluster.ts';
import { natsUrls, pgUrl } from '../cluster/topology.ts';
import type { Json } from '../objects/field-types.ts';
import { StreamProbe, streamIds } from './events.ts';
import {
  alive,
  healPartition,
  isolateMember,
  kill,
  killPostmaster,
  leaderIndex,
  partitionSupported,
  postmasterPid,
  replicaIndex,
  restartApi,
  restartEtcd,
  restartNats,
  restartPatroni,
  setDbLatency,
  sleep,
  waitAllHealthy,
  waitGone,
} from './faults.ts';
import { percentile } from './verify.ts';
import type { ChaosContext, Check, Experiment, Metrics } from './types.ts';
import { run, waitFor } from '../cluster/proc.ts';
import { replicatedCommit } from '../db/sync-commit.ts';

const check = (name: string, ok: boolean, detail: string): Check => ({ name, ok, detail });
const noClientErrors = (m: Metrics): Check =>
  check('no client-visible errors', m.clientErrors === 0 && m.failedOps === 0, `${m.clientErrors} failed attempts, ${m.failedOps} failed operations`);
const hold = (ctx: ChaosContext, fullMs: number, shortMs: number) => sleep(ctx.short ? shortMs : fullMs);

/** Waits until Patroni reports a running leader other than `old`; returns its name. */
async function newLeader(ctx: ChaosContext, old: string, timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const m = await patroniCluster(ctx.state.topology);
    const l = m?.find((x) => x.role === 'leader' && x.state === 'running' && x.name !== old);
    if (l) return l.name;
    await sleep(100);
  }
  throw new Error(`no new leader within ${timeoutMs} ms`);
}

/**
 * The running leader and its timeline. A leader that is still starting or promoting reports
 * no timeline yet: wait for it (up to timeoutMs), so a check compares timelines rather than
 * the moment it happened to ask.
 */
async function timelineOf(ctx: ChaosContext, timeoutMs = 15_000): Promise<{ leader: string; timeline: number }> {
  const leader = async () => (await patroniCluster(ctx.state.topology))?.find((x) => x.role === 'leader');
  const running = async () => {
    const l = await leader();
    return l?.state === 'running' && l.timeline !== undefined ? l : undefined;
  };
  // Not there in time: report what Patroni says now, for the check to show.
  const l = await waitFor('a running leader with a timeline', running, timeoutMs, 200).catch(leader);
  return { leader: l?.name ?? '-', timeline: l?.timeline ?? -1 };
}

function dbOutageCheck(m: Metrics): Check {
  const s = m.slowest;
  const o = m.dbOutageWindow;
  return check(
    'slowest request ≤ database outage + 0.5 s',
    m.slowestExtraMs <= m.dbOutageMs + 500,
    `slowest request +${m.slowestExtraMs} ms over p50${s ? ` (a ${s.kind}, ${s.fromMs} → ${s.toMs} ms from the fault, ${s.httpAttempts} HTTP attempts, status ${s.status})` : ''}; ` +
      `database outage ${m.dbOutageMs} ms${o ? ` (no commit ${o.fromMs} → ${o.toMs} ms from the fault)` : ''}`,
  );
}

export const apiKill: Experiment = {
  id: 'api-kill',
  title: 'kill -9 one api node',
  hypothesis: 'The load balancer retries the in-flight requests elsewhere: 0 client-visible errors, 0 writes lost or duplicated.',
  async method(ctx) {
    const victim = ctx.state.topology.api[1].name;
    ctx.faultAt = Date.now();
    kill(ctx.state.pids[victim]);
    ctx.mark(`SIGKILL ${victim}`);
    await hold(ctx, 8000, 4000);
    await restartApi(ctx.state, 1);
    ctx.mark(`${victim} restarted and ready`);
    await hold(ctx, 3000, 2000);
  },
  rollback: async (ctx) => restartApi(ctx.state, 1),
  verify: (_ctx, m) => [noClientErrors(m)],
};

export const rollingRestart: Experiment = {
  id: 'rolling-restart',
  title: 'rolling restart of all api nodes (SIGTERM, one at a time)',
  hypothesis: 'Draining (/readyz 503, then finishing in-flight requests) makes a rolling restart invisible: 0 client-visible errors.',
  async method(ctx) {
    ctx.faultAt = Date.now();
    for (const [i, a] of ctx.state.topology.api.entries()) {
      const pid = ctx.state.pids[a.name];
      kill(pid, 'SIGTERM');
      ctx.mark(`SIGTERM ${a.name}`);
      await waitGone(pid, 30_000);
      ctx.mark(`${a.name} exited`);
      await restartApi(ctx.state, i);
      // The load balancer marks a node up after 2 passing checks, 500 ms apart.
      await sleep(1500);
      ctx.mark(`${a.name} back`);
    }
    await hold(ctx, 3000, 2000);
  },
  rollback: async (ctx) => {
    for (const i of [0, 1, 2]) await restartApi(ctx.state, i);
  },
  verify: (_ctx, m) => [noClientErrors(m)],
};

export const postmasterKill: Experiment = {
  id: 'postmaster-kill',
  title: "kill -9 the primary's postmaster (primary_start_timeout: 0)",
  hypothesis:
    'Patroni fails over to the synchronous standby; the write path retries through it: 0 client-visible errors, 0 acknowledged writes lost, slowest request ≤ database outage + 0.5 s.',
  async method(ctx) {
    const i = await leaderIndex(ctx.state);
    const old = ctx.state.topology.pg[i].name;
    ctx.faultAt = Date.now();
    const pid = await killPostmaster(ctx.state, i);
    ctx.mark(`SIGKILL postmaster ${pid} of leader ${old}`);
    const nl = await newLeader(ctx, old);
    ctx.extra.failoverMs = Date.now() - ctx.faultAt;
    ctx.extra.oldLeader = old;
    ctx.extra.newLeader = nl;
    ctx.mark(`new leader ${nl}`);
    await hold(ctx, 8000, 5000);
  },
  rollback: async (ctx) => waitAllHealthy(ctx.state),
  verify: (_ctx, m) => [noClientErrors(m), dbOutageCheck(m)],
};

export const patroniKill: Experiment = {
  id: 'patroni-kill',
  title: 'kill -9 the Patroni leader',
  hypothesis:
    'HAProxy stops routing to the member whose Patroni is gone; after the leader key expires (ttl 10 s) the synchronous standby is promoted; the old PostgreSQL is demoted and rewound when Patroni restarts. 0 client-visible errors, 0 acknowledged writes lost.',
  async method(ctx) {
    const i = await leaderIndex(ctx.state);
    const p = ctx.state.topology.pg[i];
    ctx.faultAt = Date.now();
    kill(ctx.state.pids[p.name]);
    ctx.mark(`SIGKILL Patroni of leader ${p.name} (PostgreSQL keeps running)`);
    const nl = await newLeader(ctx, p.name);
    ctx.extra.failoverMs = Date.now() - ctx.faultAt;
    ctx.extra.oldLeader = p.name;
    ctx.extra.newLeader = nl;
    ctx.mark(`new leader ${nl}`);
    await hold(ctx, 6000, 4000);
    await restartPatroni(ctx.state, i);
    ctx.mark(`Patroni ${p.name} restarted (rejoins as replica)`);
    await hold(ctx, 4000, 2000);
  },
  rollback: async (ctx) => {
    for (const i of [0, 1, 2]) await restartPatroni(ctx.state, i);
    await waitAllHealthy(ctx.state);
  },
  verify: (_ctx, m) => [noClientErrors(m), dbOutageCheck(m)],
};

/**
 * The isolated old primary, written to directly (as a client on its side of the partition
 * would), with the application's statement timeout: every write it acknowledges must survive.
 */
class DirectWriter {
  readonly acked: number[] = [];
  errors = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }
  static async prepare(url: string): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE IF NOT EXISTS partition_probe (n bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    await c.end();
  }
  start(): void {
    this.running = true;
    this.loop = (async () => {
      let n = Date.now() * 1000;
      let c: pg.Client | undefined;
      while (this.running) {
        try {
          if (!c) {
            c = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000, statement_timeout: 10_000 });
            c.on('error', () => {});
            await c.connect();
          }
          n++;
          const client = c;
          // A careful client: a commit the standby did not confirm is not acknowledged.
          await replicatedCommit(client, () => client.query('INSERT INTO partition_probe (n) VALUES ($1)', [n]));
          this.acked.push(n);
        } catch {
          this.errors++;
          await c?.end().catch(() => {});
          c = undefined;
          await sleep(200);
        }
        await sleep(50);
      }
      await c?.end().catch(() => {});
    })();
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

export const partition: Experiment = {
  id: 'partition',
  title: 'isolate the primary from etcd and the replicas (nftables)',
  hypothesis:
    'No split brain: the isolated primary cannot commit (its synchronous standby is gone) and Patroni demotes it when it loses etcd; a replica is promoted; no write acknowledged by the old primary exists only there; 0 API writes lost.',
  unsupported: partitionSupported,
  async method(ctx) {
    const t = ctx.state.topology;
    const i = await leaderIndex(ctx.state);
    const old = t.pg[i];
    const direct = new DirectWriter(pgUrl(t, old.pgPort, 'chaos'));
    await DirectWriter.prepare(pgUrl(t, t.haproxy.writePort, 'chaos'));
    direct.start();
    await sleep(1000);
    const before = direct.acked.length;
    ctx.faultAt = Date.now();
    isolateMember(ctx.state, i);
    ctx.mark(`partitioned ${old.name} (uid ${old.user}) from etcd and the replicas`);
    // Watch every member's own opinion: how long were two of them writable primaries at once?
    let overlapMs = 0;
    let last = Date.now();
    const clients = await Promise.all(
      t.pg.map(async (p) => {
        const c = new pg.Client({ connectionString: pgUrl(t, p.pgPort, 'chaos'), connectionTimeoutMillis: 1000, statement_timeout: 1000 });
        c.on('error', () => {});
        // A pg client whose connect failed queues queries forever: keep only connected ones.
        return (await c.connect().then(() => true, () => false)) ? c : undefined;
      }),
    );
    const inRecovery = (c: pg.Client | undefined): Promise<boolean | undefined> =>
      c
        ? Promise.race([
            c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r').then((res) => res.rows[0].r, () => undefined),
            sleep(2000).then(() => undefined),
          ])
        : Promise.resolve(undefined);
    const primaries = async () => (await Promise.all(clients.map(inRecovery))).filter((r) => r === false).length;
    let nl: string | undefined;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      const now = Date.now();
      if ((await primaries()) > 1) overlapMs += now - last;
      last = now;
      if (!nl) {
        const m = await patroniCluster(t);
        nl = m?.find((x) => x.role === 'leader' && x.state === 'running' && x.name !== old.name)?.name;
        if (nl) {
          ctx.extra.failoverMs = Date.now() - ctx.faultAt;
          ctx.mark(`new leader ${nl}`);
        }
      }
      if (nl && Date.now() - ctx.faultAt > (ctx.short ? 15_000 : 25_000)) break;
      await sleep(200);
    }
    const oldDemoted = (await inRecovery(clients[i])) !== false;
    for (const c of clients) await c?.end().catch(() => {});
    healPartition();
    ctx.mark('partition healed');
    await direct.stop();
    ctx.extra.oldLeader = old.name;
    ctx.extra.newLeader = nl ?? null;
    ctx.extra.twoWritablePrimariesMs = overlapMs;
    ctx.extra.oldPrimaryDemotedOrDown = oldDemoted;
    ctx.extra.directWritesAckedByOldPrimaryDuringPartition = direct.acked.length - before;
    ctx.extra.directWriteErrors = direct.errors;
    (ctx as ChaosContext & { direct?: DirectWriter }).direct = direct;
    await waitAllHealthy(ctx.state);
    ctx.mark('old primary rewound and rejoined');
  },
  rollback: async (ctx) => {
    healPartition();
    await waitAllHealthy(ctx.state);
  },
  async verify(ctx, m) {
    const direct = (ctx as ChaosContext & { direct?: DirectWriter }).direct;
    const checks = [noClientErrors(m), check('a replica was promoted', typeof ctx.extra.newLeader === 'string', `new leader ${ctx.extra.newLeader}`)];
    if (direct) {
      const c = new pg.Client({ connectionString: pgUrl(ctx.state.topology, ctx.state.topology.haproxy.writePort, 'chaos') });
      await c.connect();
      const res = await c.query<{ n: string }>('SELECT n::text FROM partition_probe WHERE n = ANY($1::bigint[])', [direct.acked.map(String)]);
      await c.end();
      const have = new Set(res.rows.map((r) => r.n));
      const missing = direct.acked.filter((n) => !have.has(String(n))).length;
      ctx.extra.directWritesLost = missing;
      checks.push(check('no write acknowledged by the old primary was lost', missing === 0, `${direct.acked.length} acknowledged directly, ${missing} missing after the rejoin`));
    }
    return checks;
  },
};

export const dbLatency: Experiment = {
  id: 'db-latency',
  title: 'add 200 ms latency to database traffic (TCP proxy)',
  hypothesis: 'Every request is slower but none fails: 0 client-visible errors; read p99 < 3 s, write p99 < 5 s while the latency lasts.',
  async method(ctx) {
    ctx.faultAt = Date.now();
    await setDbLatency(ctx.state, 200);
    ctx.mark('+200 ms per database round trip');
    const from = Date.now();
    await hold(ctx, 20_000, 10_000);
    const to = Date.now();
    await setDbLatency(ctx.state, 0);
    ctx.mark('latency removed');
    const during = ctx.load.ops.filter((o) => o.start >= from && o.end <= to);
    const lat = (kinds: string[]) => during.filter((o) => kinds.includes(o.kind)).map((o) => o.end - o.start).sort((a, b) => a - b);
    const reads = lat(['list']);
    const writes = lat(['create', 'patch', 'convert']);
    ctx.extra.readP50Ms = percentile(reads, 50);
    ctx.extra.readP99Ms = percentile(reads, 99);
    ctx.extra.writeP50Ms = percentile(writes, 50);
    ctx.extra.writeP99Ms = percentile(writes, 99);
    ctx.extra.opsDuringLatency = during.length;
    await hold(ctx, 3000, 2000);
  },
  rollback: async (ctx) => setDbLatency(ctx.state, 0),
  verify: (ctx, m) => [
    noClientErrors(m),
    check('read p99 < 3 s under latency', Number(ctx.extra.readP99Ms) < 3000, `read p50 ${ctx.extra.readP50Ms} ms, p99 ${ctx.extra.readP99Ms} ms`),
    check('write p99 < 5 s under latency', Number(ctx.extra.writeP99Ms) < 5000, `write p50 ${ctx.extra.writeP50Ms} ms, p99 ${ctx.extra.writeP99Ms} ms`),
  ],
};

async function streamLeader(ctx: ChaosContext): Promise<number> {
  for (const [i, n] of ctx.state.topology.nats.entries()) {
    try {
      const r = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz?streams=true`);
      const body = (await r.json()) as { account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] };
      const leader = body.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === 'BASALT_EVENTS')?.cluster?.leader;
      if (leader) return ctx.state.topology.nats.findIndex((x) => x.name === leader);
    } catch {
      void i;
    }
  }
  return 0;
}

export const natsKill: Experiment = {
  id: 'nats-kill',
  title: "kill -9 a NATS node (the event stream's leader)",
  hypothesis: 'The R3 stream elects a new leader; publishes retried with the same message id land exactly once; the API never notices: 0 errors, 0 events lost or duplicated.',
  events: 'stream',
  async method(ctx) {
    const servers = natsUrls(ctx.state.topology).split(',');
    const probe = new StreamProbe(servers, ctx.runId);
    probe.start();
    await sleep(1000);
    const i = await streamLeader(ctx);
    const n = ctx.state.topology.nats[i];
    ctx.faultAt = Date.now();
    kill(ctx.state.pids[n.name]);
    ctx.mark(`SIGKILL ${n.name} (stream leader)`);
    await hold(ctx, 10_000, 5000);
    await restartNats(ctx.state, i);
    ctx.mark(`${n.name} restarted`);
    await hold(ctx, 3000, 2000);
    await probe.stop();
    const ids = await streamIds(servers, probe.subject);
    const lost = probe.acked.filter((id) => !ids.has(id)).length;
    const duplicated = [...ids.values()].reduce((a, c) => a + (c - 1), 0);
    ctx.extra.probePublishesAcked = probe.acked.length;
    ctx.events = { expected: probe.acked.length, lost, duplicated, note: 'own publisher through the stream during the fault' };
  },
  rollback: async (ctx) => {
    for (const i of [0, 1, 2]) await restartNats(ctx.state, i);
  },
  verify: (_ctx, m) => [noClientErrors(m)],
};

function etcdLeader(ctx: ChaosContext): number {
  const t = ctx.state.topology;
  const r = run('/usr/bin/etcdctl', ['--endpoints', t.etcd.map((e) => `127.0.0.1:${e.clientPort}`).join(','), 'endpoint', 'status', '-w', 'json']);
  try {
    const rows = JSON.parse(r.stdout) as { Endpoint: string; Status: { leader: string | number; header: { member_id: string | number } } }[];
    const lead = rows.find((x) => String(x.Status.leader) === String(x.Status.header.member_id));
    if (lead) return t.etcd.findIndex((e) => lead.Endpoint.endsWith(`:${e.clientPort}`));
  } catch {
    // fall through
  }
  return 0;
}

export const etcdKill: Experiment = {
  id: 'etcd-kill',
  title: 'kill -9 one etcd member (the raft leader)',
  hypothesis: 'Two of three etcd members keep quorum: no failover (same leader and timeline), 0 client-visible errors.',
  async method(ctx) {
    const before = await timelineOf(ctx);
    const i = etcdLeader(ctx);
    const e = ctx.state.topology.etcd[i];
    ctx.faultAt = Date.now();
    kill(ctx.state.pids[e.name]);
    ctx.mark(`SIGKILL ${e.name} (raft leader)`);
    await hold(ctx, 10_000, 6000);
    await restartEtcd(ctx.state, i);
    ctx.mark(`${e.name} restarted`);
    await hold(ctx, 2000, 1000);
    const after = await timelineOf(ctx);
    ctx.extra.leaderBefore = before.leader;
    ctx.extra.leaderAfter = after.leader;
    ctx.extra.timelineBefore = before.timeline;
    ctx.extra.timelineAfter = after.timeline;
  },
  rollback: async (ctx) => {
    for (const i of [0, 1, 2]) await restartEtcd(ctx.state, i);
  },
  verify: (ctx, m) => [
    noClientErrors(m),
    check('no failover', ctx.extra.leaderBefore === ctx.extra.leaderAfter && ctx.extra.timelineBefore === ctx.extra.timelineAfter, `leader ${ctx.extra.leaderBefore} → ${ctx.extra.leaderAfter}, timeline ${ctx.extra.timelineBefore} → ${ctx.extra.timelineAfter}`),
  ],
};

export const replicaKill: Experiment = {
  id: 'replica-kill',
  title: 'kill -9 the synchronous standby (Patroni and PostgreSQL)',
  hypothesis: 'Patroni moves synchronous replication to the other replica; writes pause briefly, none fails: 0 client-visible errors, no failover.',
  async method(ctx) {
    const before = await timelineOf(ctx);
    const i = await replicaIndex(ctx.state, 'sync_standby');
    const p = ctx.state.topology.pg[i];
    const pm = postmasterPid(p.dataDir);
    ctx.faultAt = Date.now();
    kill(ctx.state.pids[p.name]);
    if (pm && alive(pm)) kill(pm);
    ctx.mark(`SIGKILL Patroni and postmaster of sync standby ${p.name}`);
    await hold(ctx, 8000, 5000);
    await restartPatroni(ctx.state, i);
    ctx.mark(`${p.name} restarted`);
    await hold(ctx, 3000, 2000);
    const after = await timelineOf(ctx);
    ctx.extra.victim = p.name;
    ctx.extra.leaderBefore = before.leader;
    ctx.extra.leaderAfter = after.leader;
  },
  rollback: async (ctx) => {
    for (const i of [0, 1, 2]) await restartPatroni(ctx.state, i);
    await waitAllHealthy(ctx.state);
  },
  verify: (ctx, m) => [
    noClientErrors(m),
    check('no failover', ctx.extra.leaderBefore === ctx.extra.leaderAfter, `leader ${ctx.extra.leaderBefore} → ${ctx.extra.leaderAfter}`),
  ],
};

/** A webhook receiver of our own: records each delivery by event id. */
class WebhookTarget {
  readonly deliveries = new Map<string, { recordId: string; type: string; count: number }>();
  private server: http.Server | undefined;
  readonly port: number;
  constructor(port: number) {
    this.port = port;
  }
  async up(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        try {
          const e = JSON.parse(body) as { id: string; recordId: string; type: string };
          const d = this.deliveries.get(e.id);
          if (d) d.count++;
          else this.deliveries.set(e.id, { recordId: e.recordId, type: e.type, count: 1 });
        } catch {
          // not an event
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server?.listen(this.port, '127.0.0.1', () => r()));
  }
  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

export const webhookOutage: Experiment = {
  id: 'webhook-outage',
  title: 'a webhook target down for a minute, then back',
  hypothesis: 'Deliveries to the down target are retried with backoff and arrive after it is back: every record.created event delivered, none lost, no event duplicated (redeliveries carry the same event id).',
  events: 'webhook',
  async method(ctx) {
    const port = ctx.state.topology.chaosPortBase + 1;
    const target = new WebhookTarget(port);
    await target.up();
    const reg = await fetch(`${ctx.baseUrl}/api/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json', 'idempotency-key': `${ctx.runId}-webhook` },
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook/${ctx.runId}`, events: ['record.created'] }),
    });
    if (reg.status !== 201) throw new Error(`webhook registration failed: ${reg.status} ${await reg.text()}`);
    const hook = (await reg.json()) as { id: string };
    const createdFrom = Date.now();
    await sleep(2000);
    ctx.faultAt = Date.now();
    await target.down();
    ctx.mark('webhook target down');
    await hold(ctx, 60_000, 20_000);
    await target.up();
    ctx.mark('webhook target back');
    await hold(ctx, 3000, 2000);
    (ctx as ChaosContext & { hook?: { target: WebhookTarget; id: string; from: number } }).hook = { target, id: hook.id, from: createdFrom };
  },
  rollback: async () => {},
  async verify(ctx, m) {
    const h = (ctx as ChaosContext & { hook?: { target: WebhookTarget; id: string; from: number } }).hook;
    if (!h) return [check('webhook registered', false, 'no webhook')];
    const expected = new Set(ctx.load.creates.filter((c) => c.at >= h.from).map((c) => c.id));
    const until = Date.now() + (ctx.short ? 90_000 : 180_000);
    const delivered = () => new Set([...h.target.deliveries.values()].filter((d) => d.type === 'record.created').map((d) => d.recordId));
    while (Date.now() < until && [...expected].some((id) => !delivered().has(id))) await sleep(1000);
    const got = delivered();
    const lost = [...expected].filter((id) => !got.has(id)).length;
    const perRecord = new Map<string, number>();
    let redeliveries = 0;
    for (const d of h.target.deliveries.values()) {
      perRecord.set(d.recordId, (perRecord.get(d.recordId) ?? 0) + 1);
      redeliveries += d.count - 1;
    }
    const duplicated = [...perRecord.entries()].filter(([id]) => expected.has(id)).reduce((a, [, n]) => a + (n - 1), 0);
    ctx.events = { expected: expected.size, lost, duplicated, note: 'record.created webhooks, deduplicated by X-Basalt-Event-Id' };
    ctx.extra.webhookRedeliveries = redeliveries;
    ctx.extra.deliveredAfterMs = Date.now() - h.from;
    await h.target.down();
    await fetch(`${ctx.baseUrl}/api/v1/webhooks/${h.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ctx.token}`, 'if-match': '"1"' } }).catch(() => {});
    return [noClientErrors(m), check('every event delivered once the target is back', lost === 0, `${expected.size} expected, ${lost} not delivered`)];
  },
};

export const ALL: Experiment[] = [apiKill, rollingRestart, postmasterKill, patroniKill, partition, dbLatency, natsKill, etcdKill, replicaKill, webhookOutage];

export type ExtraJson = Record<string, Json>;
