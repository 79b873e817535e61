import pg from 'pg';

/** How many client backends were, on average, in each state while a workload ran. */
export interface WaitProfile {
  samples: number;
  /** "type:event" ("CPU:running" when not waiting) → average active backends per sample. */
  top: { wait: string; backends: number }[];
}

/**
 * Samples pg_stat_activity of the bench database every `everyMs` while a workload runs:
 * where the database's active sessions spend their time (a lock on one row, WAL, I/O, CPU).
 */
export class WaitSampler {
  private readonly url: string;
  private readonly everyMs: number;
  private readonly counts = new Map<string, number>();
  private samples = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly states: string;

  /** With `inTransaction`, sessions idle inside a transaction (waiting for their client: "Client:ClientRead") count too. */
  constructor(url: string, opts: { everyMs?: number; inTransaction?: boolean } = {}) {
    this.url = url;
    this.everyMs = opts.everyMs ?? 20;
    this.states = opts.inTransaction ? "'active', 'idle in transaction'" : "'active'";
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'basalt-bench-waits' });
    await client.connect();
    this.running = true;
    this.loop = (async () => {
      try {
        while (this.running) {
          const res = await client.query<{ wait: string; n: number }>(
            `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU:running') AS wait, count(*)::int AS n
             FROM pg_stat_activity
             WHERE datname = current_database() AND state IN (${this.states}) AND backend_type = 'client backend'
               AND pid <> pg_backend_pid()
             GROUP BY 1`,
          );
          this.samples++;
          for (const r of res.rows) this.counts.set(r.wait, (this.counts.get(r.wait) ?? 0) + r.n);
          await new Promise((r) => setTimeout(r, this.everyMs));
        }
      } finally {
        await client.end().catch(() => {});
      }
    })();
  }

  async stop(): Promise<WaitProfile> {
    this.running = false;
    await this.loop;
    const top = [...this.counts.entries()]
      .map(([wait, n]) => ({ wait, backends: Number((n / Math.max(1, this.samples)).toFixed(3)) }))
      .sort((a, b) => b.backends - a.backends)
      .slice(0, 6);
    return { samples: this.samples, top };
  }
}

export function formatWaits(p: WaitProfile | null): string {
  if (!p || p.top.length === 0) return 'no active sessions sampled';
  return p.top.map((w) => `${w.wait} ${w.backends}`).join(', ');
}
