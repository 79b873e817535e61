import type { ClusterState } from '../cluster/cluster.ts';
import type { Json } from '../objects/field-types.ts';
import type { LoadGenerator } from './load.ts';

/**
 * An experiment as code, in the spirit of Chaos Toolkit: a steady-state hypothesis checked
 * before and after, a method (the fault, injected while the load generator runs), a rollback
 * (repair), and a verification of the measurements against the hypothesis.
 */
export interface Experiment {
  id: string;
  title: string;
  hypothesis: string;
  /** Why it cannot run here (e.g. needs root); checked before anything is touched. */
  unsupported?: () => string | undefined;
  /** Problems that keep the system from its steady state (empty: steady). Defaults to "every member healthy". */
  steadyState?: (ctx: ChaosContext) => Promise<string[]>;
  /** Injects the fault under load; sets ctx.faultAt; returns when the fault has played out. */
  method: (ctx: ChaosContext) => Promise<void>;
  /** Repairs whatever the method broke (idempotent: also runs after a failed method). */
  rollback: (ctx: ChaosContext) => Promise<void>;
  /** Experiment-specific checks of the measurements (the common ones — 0 lost, 0 duplicated — always apply). */
  verify: (ctx: ChaosContext, m: Metrics) => Check[] | Promise<Check[]>;
  /** Tracks events (NATS stream / webhook deliveries) for this experiment. */
  events?: 'stream' | 'webhook';
}

export interface ChaosContext {
  state: ClusterState;
  short: boolean;
  runId: string;
  token: string;
  baseUrl: string;
  load: LoadGenerator;
  say: (msg: string) => void;
  mark: (what: string) => void;
  faultAt?: number;
  /** Experiment-specific measurements (reported as is). */
  extra: Record<string, Json>;
  /** Events lost/duplicated downstream, when the experiment measures them. */
  events?: { expected: number; lost: number; duplicated: number; note: string };
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Metrics {
  requests: number;
  httpAttempts: number;
  /** Failed attempts a client saw (5xx, transport errors), before its own retries. */
  clientErrors: number;
  /** Operations that still failed after the client's retries with the same key. */
  failedOps: number;
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  baselineP50Ms: number;
  /** Slowest request minus the p50 before the fault. */
  slowestExtraMs: number;
  /** The slowest request and the database's outage, in ms from the fault: where the latency went. */
  slowest?: { kind: string; fromMs: number; toMs: number; httpAttempts: number; status: number };
  dbOutageWindow?: { fromMs: number; toMs: number };
  writeUnavailableMs: number;
  dbOutageMs: number;
  ackedWrites: number;
  writesLost: number;
  writesDuplicated: number;
  eventsLost: number | null;
  eventsDuplicated: number | null;
}

export interface ExperimentReport extends Metrics {
  experiment: string;
  title: string;
  hypothesis: string;
  passed: boolean;
  skipped?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  checks: Check[];
  timeline: { atMs: number; what: string }[];
  errorsSample: string[];
  extra: Record<string, Json>;
}
