/**
 * One circuit per endpoint (subscription), in this process: after `threshold` consecutive
 * failures the circuit opens and the endpoint gets nothing for `cooldownMs`; then one probe
 * (half-open) decides whether it closes again or stays open for another cooldown. While open,
 * the endpoint's deliveries stay pending (no retry budget is spent) and other endpoints are
 * unaffected.
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

interface Circuit {
  failures: number;
  openUntil: number;
  probing: boolean;
}

export class CircuitBreakers {
  private readonly circuits = new Map<string, Circuit>();
  /**
   * Bumped whenever an endpoint's circuit opens or closes. An attempt carries the generation
   * it started in, and its outcome counts only in that generation: a request that hung past
   * a recovery (or began before an outage was detected) says nothing about the endpoint now.
   */
  private readonly generations = new Map<string, number>();
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;

  constructor(opts: { threshold: number; cooldownMs: number; now?: () => number }) {
    this.threshold = opts.threshold;
    this.cooldownMs = opts.cooldownMs;
    this.now = opts.now ?? Date.now;
  }

  state(key: string): CircuitState {
    const c = this.circuits.get(key);
    if (!c || c.failures < this.threshold) return 'closed';
    return this.now() < c.openUntil ? 'open' : 'half_open';
  }

  /** May a request go to this endpoint now? In half-open, only one probe at a time. */
  tryAcquire(key: string): boolean {
    const state = this.state(key);
    if (state === 'closed') return true;
    if (state === 'open') return false;
    const c = this.circuits.get(key) as Circuit;
    if (c.probing) return false;
    c.probing = true;
    return true;
  }

  /** Endpoints that must get nothing now (open, or half-open with a probe in flight). */
  blocked(): string[] {
    const out: string[] = [];
    for (const [key, c] of this.circuits) {
      const state = this.state(key);
      if (state === 'open' || (state === 'half_open' && c.probing)) out.push(key);
    }
    return out;
  }

  /** When a blocked endpoint may be tried again. */
  retryAt(key: string): number {
    return Math.max(this.circuits.get(key)?.openUntil ?? 0, this.now());
  }

  /** The generation an attempt starting now belongs to (pass it to success/failure). */
  generation(key: string): number {
    return this.generations.get(key) ?? 0;
  }

  success(key: string, generation = this.generation(key)): void {
    if (generation !== this.generation(key)) return;
    const c = this.circuits.get(key);
    if (!c) return;
    this.circuits.delete(key);
    if (c.failures >= this.threshold) this.generations.set(key, generation + 1);
  }

  failure(key: string, generation = this.generation(key)): void {
    if (generation !== this.generation(key)) return;
    const c = this.circuits.get(key) ?? { failures: 0, openUntil: 0, probing: false };
    const wasOpen = c.failures >= this.threshold;
    c.failures += 1;
    c.probing = false;
    if (c.failures >= this.threshold) c.openUntil = this.now() + this.cooldownMs;
    this.circuits.set(key, c);
    if (!wasOpen && c.failures >= this.threshold) this.generations.set(key, generation + 1);
  }
}
