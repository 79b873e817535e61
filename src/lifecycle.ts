import type { Lifecycle } from './health/health.routes.ts';

export interface ShutdownPlan {
  lifecycle: Lifecycle;
  /** How long /readyz answers 503 while requests are still served (load balancers notice). */
  drainDelayMs: number;
  /** The most time in-flight requests and clean-up get after the drain delay. */
  shutdownTimeoutMs: number;
  /** Stops taking connections; resolves when the requests in flight have finished. */
  closeServer: () => Promise<void>;
  /** Run in order once the server has closed: jobs, relays, pools, the embedded database. */
  release?: (() => Promise<void> | void)[];
  say?: (msg: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

export interface ShutdownOutcome {
  exitCode: 0 | 1;
  reason: 'clean' | 'deadline' | 'failed';
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The SIGTERM sequence of a node behind a load balancer: stop being ready at once, keep
 * serving through the drain delay (health checks take a few intervals to notice), then
 * stop accepting, let in-flight requests finish and release resources, all within a
 * deadline. Returns the exit code; the caller exits (so this can be tested in-process).
 */
export async function gracefulShutdown(plan: ShutdownPlan, signal = 'SIGTERM'): Promise<ShutdownOutcome> {
  const say = plan.say ?? (() => {});
  const sleep = plan.sleep ?? defaultSleep;
  plan.lifecycle.draining = true;
  say(`${signal}: not ready; serving for ${plan.drainDelayMs} ms more, then finishing in-flight requests`);
  await sleep(plan.drainDelayMs);

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<ShutdownOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ exitCode: 1, reason: 'deadline' }), plan.shutdownTimeoutMs);
  });
  const finish = (async (): Promise<ShutdownOutcome> => {
    await plan.closeServer();
    for (const release of plan.release ?? []) await release();
    return { exitCode: 0, reason: 'clean' };
  })().catch((err: unknown): ShutdownOutcome => {
    say(`shutdown step failed: ${err instanceof Error ? err.message : String(err)}`);
    return { exitCode: 1, reason: 'failed' };
  });
  const outcome = await Promise.race([finish, deadline]);
  clearTimeout(timer);
  say(outcome.reason === 'clean' ? 'stopped' : `stopping: ${outcome.reason === 'deadline' ? 'deadline passed' : 'a step failed'}; exiting`);
  return outcome;
}
