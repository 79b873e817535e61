import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Load generation: closed loop (N workers, each sends its next request when the last one
 * answered: the maximum throughput at that concurrency) and open loop (requests started on
 * a fixed schedule whatever the answers do, latency measured from the scheduled time, so
 * a stall is not hidden by coordinated omission).
 */

export interface Sample {
  ok: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  errorExamples: string[];
}

export interface Summary {
  ops: number;
  errors: number;
  throughput: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  errorExamples?: string[];
}

/** One operation; `worker` lets a workload partition its data (no two workers patch one record). */
export type Op = (worker: number, iteration: number) => Promise<void>;

export async function closedLoop(op: Op, concurrency: number, seconds: number, warmupSeconds: number): Promise<Summary> {
  if (warmupSeconds > 0) await run(op, concurrency, warmupSeconds, false);
  return summarize(await run(op, concurrency, seconds, true));
}

async function run(op: Op, concurrency: number, seconds: number, record: boolean): Promise<Sample> {
  const sample: Sample = { ok: 0, errors: 0, seconds, latenciesMs: [], errorExamples: [] };
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; performance.now() < until; i++) {
        const t0 = performance.now();
        try {
          await op(worker, i);
          if (record) {
            sample.ok++;
            sample.latenciesMs.push(performance.now() - t0);
          }
        } catch (err) {
          if (record) {
            sample.errors++;
            if (sample.errorExamples.length < 3) sample.errorExamples.push(String(err instanceof Error ? err.message : err).slice(0, 300));
          }
        }
      }
    }),
  );
  sample.seconds = (performance.now() - started) / 1000;
  return sample;
}

/**
 * `warmupSeconds` of the same schedule run first and are not recorded: connection pools
 * left idle by the previous loop (pg closes idle clients after 10 s) fill up there, not in
 * the measured part. Everything scheduled after it counts, stalls included.
 * `onMeasuring` is called once, when the first recorded request is due (after the warm-up):
 * the moment to snapshot whatever is reported per recorded request (CPU, server metrics).
 */
export async function openLoop(
  op: Op,
  ratePerSecond: number,
  seconds: number,
  warmupSeconds = 0,
  onMeasuring?: () => void,
  maxInFlight = 512,
): Promise<Summary> {
  const sample: Sample = { ok: 0, errors: 0, seconds, latenciesMs: [], errorExamples: [] };
  const interval = 1000 / ratePerSecond;
  const begin = performance.now();
  const start = begin + warmupSeconds * 1000;
  const inflight = new Set<Promise<void>>();
  let measuring = false;
  for (let i = 0; ; i++) {
    const due = begin + i * interval;
    if (due - start >= seconds * 1000) break;
    const record = due >= start;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (record && !measuring) {
      measuring = true;
      onMeasuring?.();
    }
    if (inflight.size >= maxInFlight) {
      if (record) sample.errors++;
      continue;
    }
    const p: Promise<void> = op(i % maxInFlight, i)
      .then(() => {
        if (!record) return;
        sample.ok++;
        sample.latenciesMs.push(performance.now() - due);
      })
      .catch((err: unknown) => {
        if (!record) return;
        sample.errors++;
        if (sample.errorExamples.length < 3) sample.errorExamples.push(String(err instanceof Error ? err.message : err).slice(0, 300));
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  sample.seconds = (performance.now() - start) / 1000;
  return summarize(sample);
}

export function summarize(s: Sample): Summary {
  const sorted = Float64Array.from(s.latenciesMs).sort();
  const q = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : Number.NaN);
  return {
    ops: s.ok,
    errors: s.errors,
    throughput: s.ok / s.seconds,
    p50: q(0.5),
    p99: q(0.99),
    p999: q(0.999),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    ...(s.errorExamples.length ? { errorExamples: s.errorExamples } : {}),
  };
}
