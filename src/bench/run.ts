import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool as HttpPool, request } from 'undici';
import { type BulkResult, exportBenchmark, importBenchmark, rawImportBaseline } from './bulk.ts';
import { defaultDataDir, formatWal, measureWal, openBenchDatabase, settleDatabase } from './database.ts';
import { closedLoop, openLoop, type Summary } from './load.ts';
import { BENCH_PASSWORD, findSeed, type SeedResult, seed } from './seed.ts';
import { machineCpuMs, type ServerRuntime, scrapeRuntime, startServer } from './server.ts';
import { formatWaits, type WaitProfile, WaitSampler } from './waits.ts';
import { type BenchContext, WORKLOADS } from './workloads.ts';

export interface BenchOptions {
  scale: number;
  seconds: number;
  warmup: number;
  concurrency: number[];
  workloads: string[] | null;
  reuse: boolean;
  bulk: boolean;
  relay: boolean;
  pgSettings: [string, string][];
  logLevel: string;
  outDir: string;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '1,8,32' },
      workloads: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      'no-bulk': { type: 'boolean', default: false },
      relay: { type: 'boolean', default: false },
      pg: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      out: { type: 'string', default: 'bench-results' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`npm run bench -- [--scale 1] [--duration 5] [--warmup 1] [--concurrency 1,8,32] [--workloads "create lead,search"]
  [--reuse (keep the seeded database of an earlier run at the same scale)] [--no-bulk (skip import/export)] [--relay] [--log-level warn]
  [--pg "commit_delay=1000,commit_siblings=3" (embedded PostgreSQL settings for this run, on top of the bench's)]
  DATABASE_URL: use that PostgreSQL (a database basalt_bench is created) instead of the embedded one.\n`);
    process.exit(0);
  }
  const scale = Number(values.scale);
  if (!(scale > 0 && scale <= 10)) throw new Error('--scale must be a number in (0, 10]');
  const concurrency = values.concurrency.split(',').map(Number);
  if (concurrency.some((c) => !Number.isInteger(c) || c < 1 || c > 512)) throw new Error('--concurrency: integers from 1 to 512');
  return {
    scale,
    seconds: Number(values.duration),
    warmup: Number(values.warmup),
    concurrency,
    workloads: values.workloads ? values.workloads.split(',').map((s) => s.trim()) : null,
    reuse: values.reuse,
    bulk: !values['no-bulk'],
    relay: values.relay,
    pgSettings: (values.pg ?? '')
      .split(',')
      .filter((x) => x.trim())
      .map((x) => {
        const [name, ...rest] = x.split('=');
        if (!rest.length) throw new Error(`--pg: name=value, got ${x}`);
        return [name.trim(), rest.join('=').trim()] as [string, string];
      }),
    logLevel: values['log-level'],
    outDir: values.out,
  };
}

export interface WorkloadResult {
  workload: string;
  description: string;
  concurrency: number;
  api: Summary;
  raw: Summary;
}

export interface BenchReport {
  command: string;
  startedAt: string;
  machine: Record<string, unknown>;
  options: BenchOptions;
  seed: { seconds: number; reused: boolean };
  rows: Record<string, number>;
  results: WorkloadResult[];
  halfLoad: {
    workload: string;
    rate: number;
    api: Summary;
    raw: Summary;
    /** CPU the API server process used per request, and how busy the whole machine was, during the API's open loop. */
    serverCpuMsPerRequest: number | null;
    /** How long the server's event-loop thread waited for a CPU per request (run queue). */
    serverRunQueueMsPerRequest?: number | null;
    machineBusyPercent: number | null;
    /** Where the database's active sessions were during each open loop (pg_stat_activity, every 20 ms). */
    apiWaits: WaitProfile;
    rawWaits: WaitProfile;
    /** The server's event-loop delay during the API loop and the GC pause time it spent, from its /metrics. */
    server: {
      eventLoopBlockedP99Ms: number | null;
      eventLoopBlockedMaxMs: number | null;
      gcPauseMs: number | null;
      /** Share of the loop's requests whose time inside the server (Fastify's elapsedTime) exceeded each bound, in %. */
      serverSlowerThan: Record<string, number> | null;
    } | null;
  } | null;
  bulk: BulkResult[];
}

export async function runBench(opts: BenchOptions, log: (m: string) => void): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const runId = Date.now().toString(36);
  const db = await openBenchDatabase({ dataDir: defaultDataDir(), fresh: !opts.reuse, log, settings: opts.pgSettings });
  let seeded: SeedResult | undefined = opts.reuse ? await findSeed(db.url, opts.scale) : undefined;
  const reused = seeded !== undefined;
  if (!seeded) {
    log(`seeding at scale ${opts.scale} …`);
    seeded = await seed(db.url, opts.scale, log);
    log(`seeded in ${seeded.seconds.toFixed(1)} s`);
  }
  const settled = await settleDatabase(db.url);
  log(`settled in ${settled.seconds.toFixed(1)} s (vacuumed: ${settled.vacuumed.join(', ') || 'nothing'}; checkpoint: ${settled.checkpoint})`);
  const org = seeded.orgs[0];
  const server = await startServer(db.url, { relay: opts.relay, logLevel: opts.logLevel, log });
  // Like the server's pool (BASALT_DB_POOL_MIN_IDLE): connections stay open between loops, so neither side pays reconnects mid-measurement.
  const rawMax = Math.max(...opts.concurrency);
  const raw = new pg.Pool({ connectionString: db.url, max: rawMax, min: rawMax, application_name: 'basalt-bench-raw' });
  raw.on('error', (err) => log(`raw pool: idle connection failed: ${err.message}`));
  const http = new HttpPool(server.url, { connections: Math.max(...opts.concurrency) * 2, pipelining: 1 });
  try {
    const login = await request(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: org.adminEmail, password: BENCH_PASSWORD }),
    });
    const token = ((await login.body.json()) as { accessToken: string }).accessToken;
    const sample = await raw.query<{ id: string; version: number }>(
      'SELECT id, version FROM contacts TABLESAMPLE SYSTEM (5) WHERE organization_id = $1 AND deleted_at IS NULL LIMIT 20000',
      [org.orgId],
    );
    const contacts = sample.rows.filter((_, i) => i % 2 === 0).map((r) => ({ ...r }));
    const rawContacts = sample.rows.filter((_, i) => i % 2 === 1).map((r) => ({ ...r }));
    const names = await raw.query<{ n: string }>(
      "SELECT first_name || ' ' || last_name AS n FROM contacts TABLESAMPLE SYSTEM (1) WHERE organization_id = $1 LIMIT 500",
      [org.orgId],
    );
    const ctx: BenchContext = { http, token, raw, org, contacts, rawContacts, searchTerms: names.rows.map((r) => r.n), runId };

    const results: WorkloadResult[] = [];
    for (const w of WORKLOADS) {
      if (opts.workloads && !opts.workloads.includes(w.name)) continue;
      for (const c of opts.concurrency) {
        const api = await closedLoop(w.api(ctx, c), c, opts.seconds, opts.warmup);
        const rawRes = await closedLoop(w.raw(ctx, c), c, opts.seconds, opts.warmup);
        results.push({ workload: w.name, description: w.description, concurrency: c, api, raw: rawRes });
        log(
          `${w.name.padEnd(22)} c=${String(c).padStart(3)}  api ${api.throughput.toFixed(0).padStart(6)}/s p99 ${api.p99.toFixed(1).padStart(7)} ms` +
            `  raw ${rawRes.throughput.toFixed(0).padStart(6)}/s p99 ${rawRes.p99.toFixed(1).padStart(7)} ms  ratio ${(api.throughput / rawRes.throughput).toFixed(2)}` +
            (api.errors || rawRes.errors ? `  errors ${api.errors}/${rawRes.errors} ${(api.errorExamples ?? rawRes.errorExamples ?? [])[0] ?? ''}` : ''),
        );
      }
    }

    // p99 of lead creation at half of the highest throughput measured (open loop).
    let halfLoad: BenchReport['halfLoad'] = null;
    const creates = results.filter((r) => r.workload === 'create lead');
    if (creates.length) {
      const rate = Math.max(1, Math.floor(Math.max(...creates.map((r) => r.api.throughput)) / 2));
      const create = WORKLOADS[0];
      const apiSampler = new WaitSampler(db.url);
      await apiSampler.start();
      // CPU, run queue, the machine and the server's /metrics from the end of the warm-up on,
      // so each is per recorded request (the /metrics scrape also resets its event-loop histogram).
      const snapshot = () => ({ cpu: server.cpuMs(), rq: server.runQueueMs(), m: machineCpuMs(), rt: scrapeRuntime(server.url) });
      let before: ReturnType<typeof snapshot> | undefined;
      const api = await openLoop(create.api({ ...ctx, runId: `${runId}h` }, 1), rate, opts.seconds * 2, opts.warmup, () => {
        before = snapshot();
      });
      const after = snapshot();
      const apiWaits = await apiSampler.stop();
      const [rt0, rt1] = [(await before?.rt) ?? null, await after.rt];
      const serverRuntime = runtimeDelta(rt0, rt1);
      const perRequest = (a: number | null | undefined, b: number | null) => (a != null && b !== null && api.ops > 0 ? (b - a) / api.ops : null);
      const serverCpuMsPerRequest = perRequest(before?.cpu, after.cpu);
      const serverRunQueueMsPerRequest = perRequest(before?.rq, after.rq);
      const [m0, m1] = [before?.m ?? null, after.m];
      const machineBusyPercent = m0 && m1 && m1.total > m0.total ? (100 * (m1.busy - m0.busy)) / (m1.total - m0.total) : null;
      // The same open loop on the raw baseline: tells a tail of the database (fsync,
      // checkpoints) from a tail of the application.
      const rawSampler = new WaitSampler(db.url);
      await rawSampler.start();
      const rawHalf = await openLoop(create.raw({ ...ctx, runId: `${runId}r` }, 1), rate, opts.seconds * 2, opts.warmup);
      const rawWaits = await rawSampler.stop();
      halfLoad = {
        workload: create.name,
        rate,
        api,
        raw: rawHalf,
        serverCpuMsPerRequest,
        serverRunQueueMsPerRequest,
        machineBusyPercent,
        apiWaits,
        rawWaits,
        server: serverRuntime,
      };
      log(
        `create lead at ${rate}/s (half of max): api p50 ${api.p50.toFixed(1)} / p99 ${api.p99.toFixed(1)} / p99.9 ${api.p999.toFixed(1)} ms` +
          ` (server CPU ${serverCpuMsPerRequest?.toFixed(2) ?? '?'} ms/request, waiting for a CPU ${serverRunQueueMsPerRequest?.toFixed(2) ?? '?'} ms/request;` +
          ` machine ${machineBusyPercent?.toFixed(0) ?? '?'} % busy);` +
          ` raw p50 ${rawHalf.p50.toFixed(1)} / p99 ${rawHalf.p99.toFixed(1)} / p99.9 ${rawHalf.p999.toFixed(1)} ms`,
      );
      log(`  active sessions during the API loop: ${formatWaits(apiWaits)}; during the raw loop: ${formatWaits(rawWaits)}`);
      log(`  server during the API loop: ${formatRuntime(serverRuntime)}`);
    }

    const bulk: BulkResult[] = [];
    if (opts.bulk) {
      const rows = Math.round(1_000_000 * opts.scale);
      const importSpec = { rows, existing: Math.round(seeded.counts.contacts / 2), updateShare: 0.1 };
      const importWaits = new WaitSampler(db.url, { everyMs: 100, inTransaction: true });
      await importWaits.start();
      const cpuBefore = server.cpuMs();
      const importWal = await measureWal(raw);
      const imp: BulkResult = await importBenchmark(server, token, {
        ...importSpec,
        runId,
        pendingAudit: async () => Number((await raw.query('SELECT count(*) AS n FROM audit_pending')).rows[0].n),
      });
      const cpuAfter = server.cpuMs();
      imp.wal = await importWal();
      imp.detail.databaseSessions = formatWaits(await importWaits.stop());
      if (cpuBefore !== null && cpuAfter !== null) imp.detail.serverCpuSeconds = Number(((cpuAfter - cpuBefore) / 1000).toFixed(1));
      log(
        `${imp.name}: ${imp.seconds.toFixed(1)} s, ${imp.rowsPerSecond.toFixed(0)} rows/s, server RSS ${imp.rssMb.start}→${imp.rssMb.peak} MB; ` +
          `audit entries pending at the end ${imp.detail.auditPendingAtEnd}, all linked ${imp.detail.auditLinkedSecondsAfterEnd} s later`,
      );
      log(`  server CPU ${imp.detail.serverCpuSeconds ?? '?'} s; ${formatWal(imp.wal, rows)}; database sessions on average: ${imp.detail.databaseSessions}`);
      bulk.push(imp);
      for (const format of ['csv', 'ndjson'] as const) {
        const exp = await exportBenchmark(server, token, format);
        log(`${exp.name}: ${exp.rows} rows, ${exp.seconds.toFixed(1)} s, ${exp.rowsPerSecond.toFixed(0)} rows/s, server RSS ${exp.rssMb.start}→${exp.rssMb.peak} MB`);
        bulk.push(exp);
      }
      // The baseline last, so the API import meets the table exactly as the seed (or the
      // last run) left it; the baseline's table is bigger by the imported rows, if anything
      // slower for it. Run first, its rolled-back and vacuumed rows left free space scattered
      // through the table for the API import to fill.
      const rawWal = await measureWal(raw);
      imp.raw = await rawImportBaseline(raw, org, { ...importSpec, runId: `${runId}r` });
      imp.raw.wal = await rawWal();
      log(
        `raw baseline of the import: ${imp.raw.seconds.toFixed(1)} s (${formatSteps(imp.raw.steps)}); API/raw time ${(imp.seconds / imp.raw.seconds).toFixed(2)}; ` +
          formatWal(imp.raw.wal, rows),
      );
    }

    const counts: Record<string, number> = {};
    for (const t of ['accounts', 'contacts', 'opportunities', 'leads', 'cases', 'activities', 'audit_log', 'outbox']) {
      counts[t] = Number((await raw.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    }
    return {
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      startedAt,
      machine: {
        cpu: os.cpus()[0]?.model,
        cores: os.cpus().length,
        memoryGb: Math.round(os.totalmem() / 1024 ** 3),
        os: `${os.type()} ${os.release()}`,
        node: process.version,
        postgres: db.serverVersion,
        database: db.embedded ? 'embedded (shared_buffers=2GB)' : 'DATABASE_URL',
        loadavgAtEnd: os.loadavg().map((l) => l.toFixed(2)).join(' '),
      },
      options: opts,
      seed: { seconds: seeded.seconds, reused },
      rows: counts,
      results,
      halfLoad,
      bulk,
    };
  } finally {
    await http.close().catch(() => {});
    await raw.end().catch(() => {});
    await server.stop();
    await db.stop();
  }
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');

export function markdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`Command: \`${r.command}\` (${r.startedAt})`, '');
  lines.push(
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGb} GB; ${r.machine.os}; Node ${r.machine.node}; PostgreSQL ${r.machine.postgres} (${r.machine.database}). Load average at the end: ${r.machine.loadavgAtEnd}.`,
    '',
  );
  lines.push(`Rows: ${Object.entries(r.rows).map(([k, v]) => `${k} ${v.toLocaleString('en')}`).join(', ')}.`, '');
  lines.push('| workload | conc. | API req/s | raw ops/s | API/raw throughput | API p50 / p99 / p99.9 ms | raw p50 / p99 / p99.9 ms | p50 latency ×raw | errors |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of r.results) {
    lines.push(
      `| ${x.workload} | ${x.concurrency} | ${f(x.api.throughput, 0)} | ${f(x.raw.throughput, 0)} | ${f(x.api.throughput / x.raw.throughput, 2)} | ${f(x.api.p50)} / ${f(x.api.p99)} / ${f(x.api.p999)} | ${f(x.raw.p50)} / ${f(x.raw.p99)} / ${f(x.raw.p999)} | ${f(x.api.p50 / x.raw.p50, 1)} | ${x.api.errors + x.raw.errors} |`,
    );
  }
  if (r.halfLoad) {
    const h = r.halfLoad;
    lines.push(
      '',
      `Create lead, open loop at ${h.rate} req/s (half the best closed-loop throughput): API p50 ${f(h.api.p50)} ms, p99 ${f(h.api.p99)} ms, p99.9 ${f(h.api.p999)} ms, ${h.api.errors} errors ` +
        `(server CPU ${h.serverCpuMsPerRequest === null ? '?' : h.serverCpuMsPerRequest.toFixed(2)} ms per request, its event loop waiting for a CPU ${h.serverRunQueueMsPerRequest == null ? '?' : h.serverRunQueueMsPerRequest.toFixed(2)} ms per request; machine ${h.machineBusyPercent === null ? '?' : h.machineBusyPercent.toFixed(0)} % busy); ` +
        `raw at the same rate: p50 ${f(h.raw.p50)} ms, p99 ${f(h.raw.p99)} ms, p99.9 ${f(h.raw.p999)} ms, ${h.raw.errors} errors.`,
      `Active database sessions on average (pg_stat_activity every 20 ms): API loop ${formatWaits(h.apiWaits)}; raw loop ${formatWaits(h.rawWaits)}.`,
      `API server during its loop (its /metrics): ${formatRuntime(h.server)}.`,
    );
  }
  if (r.bulk.length) {
    lines.push('', '| bulk | rows | seconds | rows/s | raw seconds | API/raw time | MB | server RSS start → peak → end (MB) |', '|---|---:|---:|---:|---:|---:|---:|---|');
    for (const b of r.bulk) {
      lines.push(
        `| ${b.name} | ${b.rows.toLocaleString('en')} | ${f(b.seconds)} | ${f(b.rowsPerSecond, 0)} | ${b.raw ? f(b.raw.seconds) : '–'} | ${b.raw ? f(b.seconds / b.raw.seconds, 2) : '–'} | ${f(b.megabytes)} | ${b.rssMb.start} → ${b.rssMb.peak} → ${b.rssMb.end} |`,
      );
    }
    for (const b of r.bulk) {
      if (b.raw) {
        lines.push(
          '',
          `Raw baseline of the ${b.name.split(' (')[0]} (COPY into a temporary table, set-based UPDATE and INSERT into contacts, one audit row per record hashed in SQL; one transaction, rolled back): ${formatSteps(b.raw.steps)}${b.raw.wal ? `; ${formatWal(b.raw.wal, b.rows)}` : ''}.`,
        );
      }
      if (b.detail.auditLinkedSecondsAfterEnd === undefined) continue;
      lines.push(
        '',
        `After the ${b.name.split(' (')[0]}: ${b.detail.auditPendingAtEnd} audit entries were still to be linked into the chain; the background sealer finished ${b.detail.auditLinkedSecondsAfterEnd} s after the job. ` +
          `During it the server used ${b.detail.serverCpuSeconds ?? '?'} s of CPU${b.wal ? `; ${formatWal(b.wal, b.rows)}` : ''}; database sessions in a transaction, on average (every 100 ms): ${b.detail.databaseSessions}.`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function writeReport(r: BenchReport): Promise<{ json: string; md: string }> {
  await mkdir(r.options.outDir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = path.join(r.options.outDir, `bench-${stamp}.json`);
  const md = path.join(r.options.outDir, `bench-${stamp}.md`);
  await writeFile(json, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(md, markdown(r));
  return { json, md };
}

function runtimeDelta(before: ServerRuntime | null, after: ServerRuntime | null): NonNullable<BenchReport['halfLoad']>['server'] {
  if (!after) return null;
  const gc = (r: ServerRuntime | null) => Object.values(r?.gcMs ?? {}).reduce((a, b) => a + b, 0);
  let serverSlowerThan: Record<string, number> | null = null;
  const total = (r: ServerRuntime | null) => r?.postDurations.get(Number.POSITIVE_INFINITY) ?? 0;
  const n = total(after) - total(before);
  if (before && n > 0) {
    serverSlowerThan = {};
    for (const bound of [10, 25, 50, 100]) {
      const within = (after.postDurations.get(bound) ?? 0) - (before.postDurations.get(bound) ?? 0);
      serverSlowerThan[`${bound} ms`] = Number(((100 * (n - within)) / n).toFixed(2));
    }
  }
  return {
    eventLoopBlockedP99Ms: after.eventLoopBlockedP99Ms,
    eventLoopBlockedMaxMs: after.eventLoopBlockedMaxMs,
    gcPauseMs: before ? gc(after) - gc(before) : null,
    serverSlowerThan,
  };
}

function formatSteps(steps: Record<string, number>): string {
  return Object.entries(steps)
    .map(([name, sec]) => `${name} ${sec.toFixed(1)} s`)
    .join(', ');
}

function formatRuntime(r: NonNullable<BenchReport['halfLoad']>['server']): string {
  if (!r) return 'no /metrics';
  const f = (n: number | null) => (n === null ? '?' : n.toFixed(1));
  const slow = r.serverSlowerThan
    ? `; requests longer than ${Object.entries(r.serverSlowerThan)
        .map(([bound, pct]) => `${bound}: ${pct} %`)
        .join(', ')} inside the server`
    : '';
  return `event loop blocked p99 ${f(r.eventLoopBlockedP99Ms)} ms, max ${f(r.eventLoopBlockedMaxMs)} ms (delay beyond its 10 ms timer); GC pauses ${f(r.gcPauseMs)} ms in total${slow}`;
}
