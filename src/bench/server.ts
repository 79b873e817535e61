import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './database.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningServer {
  url: string;
  pid: number;
  /** Resident memory of the server process, in bytes (Linux /proc). */
  rss(): number | null;
  /** CPU time the server process has used so far (user + system), ms; null when /proc is not readable. */
  cpuMs(): number | null;
  /**
   * Time the server's main thread (its event loop) has spent runnable but waiting for a CPU
   * so far, ms (Linux schedstat); null when not readable. On a machine whose cores the
   * database and the load generator share, this is latency no code of ours can remove.
   */
  runQueueMs(): number | null;
  stop(): Promise<void>;
}

/**
 * Basalt as production runs it: its own process (`src/main.ts`), so the load generator
 * never shares the server's event loop. Request logging is at warn and the outbox relay
 * is off by default (in production it runs on worker nodes).
 */
export async function startServer(databaseUrl: string, opts: { relay: boolean; logLevel: string; log: (m: string) => void }): Promise<RunningServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', path.join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      BASALT_LOG_LEVEL: opts.logLevel,
      BASALT_OUTBOX_RELAY: String(opts.relay),
      BASALT_ACCESS_TOKEN_TTL_SECONDS: '86400',
      BASALT_DRAIN_DELAY_MS: '0',
      // BASALT_BENCH_PROFILE_DIR: write a V8 CPU profile of the server (.cpuprofile, open in Chrome DevTools) there on exit.
      ...(process.env.BASALT_BENCH_PROFILE_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BASALT_BENCH_PROFILE_DIR}` } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await new Promise((r) => setTimeout(r, 200)); // let its last output arrive
      throw new Error(`Basalt exited (code ${child.exitCode}) while starting:\n${output}`);
    }
    try {
      const res = await request(`${url}/readyz`);
      await res.body.text();
      if (res.statusCode === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`Basalt did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  opts.log(`Basalt ready at ${url} (pid ${child.pid})`);
  return {
    url,
    pid: child.pid as number,
    rss: () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : null;
      } catch {
        return null;
      }
    },
    cpuMs: () => processCpuMs(child.pid as number),
    runQueueMs: () => runQueueMs(child.pid as number),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Linux reports process and machine CPU time in clock ticks of 10 ms (USER_HZ = 100). */
const TICK_MS = 10;

function processCpuMs(pid: number): number | null {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return null;
  }
}

function runQueueMs(pid: number): number | null {
  try {
    // /proc/<pid>/schedstat is the main thread's: time on a CPU, time waiting in the run queue (ns), timeslices.
    const waited = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ')[1]);
    return Number.isFinite(waited) ? waited / 1e6 : null;
  } catch {
    return null;
  }
}

/** Busy and total CPU time of the whole machine so far (all cores), ms. */
export function machineCpuMs(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: (total - idle) * TICK_MS, total: total * TICK_MS };
  } catch {
    return null;
  }
}

/** What the server's own /metrics (prom-client default metrics) say about its event loop and GC. */
export interface ServerRuntime {
  /**
   * How long the event loop was blocked since the previous scrape (prom-client resets its
   * histogram on every scrape), ms: the delay its sampling timer measured beyond the timer's
   * own interval. Node's monitorEventLoopDelay records whole intervals (10 ms by default, so
   * an idle loop reads ~10 ms); the scrape's minimum is subtracted.
   */
  eventLoopBlockedP99Ms: number | null;
  eventLoopBlockedMaxMs: number | null;
  /** Cumulative GC pause time by kind (major, minor, incremental, weakcb), ms. */
  gcMs: Record<string, number>;
  /** Cumulative count of POST requests by the server's own duration (upper bound in ms → count, every route). */
  postDurations: Map<number, number>;
}

export async function scrapeRuntime(url: string): Promise<ServerRuntime | null> {
  try {
    const res = await fetch(`${url}/metrics`);
    if (res.status !== 200) return null;
    const text = await res.text();
    const gauge = (name: string) => {
      const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) * 1000 : null;
    };
    const gcMs: Record<string, number> = {};
    for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} ([0-9.eE+-]+)$/gm)) gcMs[m[1]] = Number(m[2]) * 1000;
    const postDurations = new Map<number, number>();
    for (const m of text.matchAll(/^basalt_http_request_duration_seconds_bucket\{([^}]*)\} ([0-9.eE+-]+)$/gm)) {
      if (!m[1].includes('method="POST"')) continue;
      const le = /le="([^"]+)"/.exec(m[1])?.[1];
      if (!le) continue;
      const ms = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le) * 1000;
      postDurations.set(ms, (postDurations.get(ms) ?? 0) + Number(m[2]));
    }
    const min = gauge('nodejs_eventloop_lag_min_seconds');
    const blocked = (name: string) => {
      const v = gauge(name);
      return v === null || min === null ? null : Math.max(0, v - min);
    };
    return {
      eventLoopBlockedP99Ms: blocked('nodejs_eventloop_lag_p99_seconds'),
      eventLoopBlockedMaxMs: blocked('nodejs_eventloop_lag_max_seconds'),
      gcMs,
      postDurations,
    };
  } catch {
    return null;
  }
}
