import pg from 'pg';
import { replicatedCommit } from '../db/sync-commit.ts';
import type { LoadGenerator } from './load.ts';

/** What the database holds, compared with what the load generator was told. */
export interface DataCheck {
  ackedWrites: number;
  lost: number;
  duplicated: number;
  problems: string[];
}

export async function checkAcknowledged(dbUrl: string, runId: string, load: LoadGenerator): Promise<DataCheck> {
  const c = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 5000 });
  await c.connect();
  const problems: string[] = [];
  let lost = 0;
  let duplicated = 0;
  try {
    const leads = await c.query<{ company: string; n: string; ids: string[] }>(
      `SELECT company, count(*) AS n, array_agg(id::text) AS ids FROM leads WHERE company LIKE $1 GROUP BY company`,
      [`chaos-${runId}-%`],
    );
    const byMarker = new Map(leads.rows.map((r) => [r.company, r]));
    for (const cr of load.creates) {
      const row = byMarker.get(cr.marker);
      if (!row?.ids.includes(cr.id)) {
        lost++;
        problems.push(`acknowledged create ${cr.marker} (${cr.id}) is not in the database`);
      }
    }
    for (const r of leads.rows) {
      if (Number(r.n) > 1) {
        duplicated += Number(r.n) - 1;
        problems.push(`lead ${r.company} exists ${r.n} times`);
      }
    }
    // Patches: the record must be at least at the acknowledged version, and hold the value of
    // the last acknowledged patch unless a later write was attempted (its answer lost).
    const lastPatch = new Map<string, { version: number; firstName: string }>();
    for (const p of load.patches) {
      const prev = lastPatch.get(p.id);
      if (!prev || p.version > prev.version) lastPatch.set(p.id, { version: p.version, firstName: p.firstName });
    }
    const uncertain = new Set(load.unanswered.filter((u) => u.id).map((u) => u.id as string));
    const converted = new Set(load.converts.map((cv) => cv.leadId));
    if (lastPatch.size) {
      const rows = await c.query<{ id: string; version: number; first_name: string }>(
        'SELECT id::text, version, first_name FROM leads WHERE id = ANY($1::uuid[])',
        [[...lastPatch.keys()]],
      );
      const got = new Map(rows.rows.map((r) => [r.id, r]));
      for (const [id, want] of lastPatch) {
        const row = got.get(id);
        if (!row || Number(row.version) < want.version) {
          lost++;
          problems.push(`acknowledged patch of ${id} to version ${want.version} is missing (found ${row?.version ?? 'no row'})`);
        } else if (!uncertain.has(id) && !converted.has(id) && Number(row.version) === want.version && row.first_name !== want.firstName) {
          lost++;
          problems.push(`lead ${id} v${want.version} holds firstName ${row.first_name}, acknowledged ${want.firstName}`);
        }
      }
    }
    // Conversions: the lead points at the acknowledged account, which exists exactly once.
    if (load.converts.length) {
      const rows = await c.query<{ id: string; converted_account_id: string | null }>(
        'SELECT id::text, converted_account_id::text FROM leads WHERE id = ANY($1::uuid[])',
        [load.converts.map((cv) => cv.leadId)],
      );
      const got = new Map(rows.rows.map((r) => [r.id, r.converted_account_id]));
      const accounts = await c.query<{ name: string; n: string }>(
        'SELECT name, count(*) AS n FROM accounts WHERE name = ANY($1::text[]) GROUP BY name',
        [load.converts.map((cv) => cv.marker)],
      );
      const accCount = new Map(accounts.rows.map((r) => [r.name, Number(r.n)]));
      for (const cv of load.converts) {
        if (got.get(cv.leadId) !== cv.accountId) {
          lost++;
          problems.push(`acknowledged conversion of ${cv.leadId} → account ${cv.accountId} not found (lead points at ${got.get(cv.leadId)})`);
        }
        const n = accCount.get(cv.marker) ?? 0;
        if (n > 1) {
          duplicated += n - 1;
          problems.push(`conversion of ${cv.marker} created ${n} accounts`);
        }
      }
    }
  } finally {
    await c.end();
  }
  return { ackedWrites: load.creates.length + load.patches.length + load.converts.length, lost, duplicated, problems };
}

/**
 * The database's own outage, measured beside the API: one raw writer through HAProxy's
 * write port (not through Basalt), committing a row every `everyMs`. The outage is the
 * longest time between two successful commits (minus the normal spacing).
 */
export class DbProbe {
  readonly commits: number[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly url: string;
  private readonly everyMs: number;
  constructor(url: string, everyMs = 50) {
    this.url = url;
    this.everyMs = everyMs;
  }

  static async prepare(url: string): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('CREATE TABLE IF NOT EXISTS probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    await c.end();
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      let client: pg.Client | undefined;
      while (this.running) {
        try {
          if (!client) {
            client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000, statement_timeout: 2000 });
            client.on('error', () => {});
            await client.connect();
          }
          const c = client;
          // A commit the synchronous standby did not confirm (the 2 s statement timeout cut
          // its wait) is not a commit the database can promise: it does not end the outage.
          await replicatedCommit(c, () => c.query('INSERT INTO probe DEFAULT VALUES'));
          this.commits.push(Date.now());
        } catch {
          await client?.end().catch(() => {});
          client = undefined;
        }
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
      await client?.end().catch(() => {});
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Longest gap between successful commits within [from, to]: where it was, and how long beyond the normal spacing. */
  outage(from: number, to: number): { start: number; end: number; ms: number } {
    const gap = longestGap(this.commits, from, to);
    return { ...gap, ms: Math.max(0, gap.end - gap.start - this.everyMs) };
  }
}

/** The longest stretch of [from, to] without any of the times in it: its bounds. */
export function longestGap(times: number[], from: number, to: number): { start: number; end: number } {
  const ts = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  const bounds = [from, ...ts, to];
  let best = { start: from, end: from };
  for (let i = 1; i < bounds.length; i++) {
    if (bounds[i] - bounds[i - 1] > best.end - best.start) best = { start: bounds[i - 1], end: bounds[i] };
  }
  return best;
}

/** Longest gap between consecutive times in [from, to], minus the normal spacing. */
export function maxGap(times: number[], from: number, to: number, normalMs = 0): number {
  const gap = longestGap(times, from, to);
  return Math.max(0, gap.end - gap.start - normalMs);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
