import type { Pool } from '../db/pool.ts';
import { BackgroundLoop } from '../events/background-loop.ts';
import type { Doorbell } from '../events/doorbell.ts';
import { isConnectionError, sleep } from '../write/retry.ts';

/** Entries linked per organization in one seal (one transaction). */
const SEAL_BATCH = 5000;

/**
 * Links committed audit entries into their organization's hash chain
 * (migrations/0013_audit_sealing.sql, docs/decisions/0012-audit-sealing.md). Every node may
 * run one: a sealer skips an organization another sealer is linking. Woken after commits
 * that wrote audit entries, and on its poll interval for entries written by other nodes.
 */
export class AuditSealer extends BackgroundLoop {
  private readonly opts: Required<Omit<SealerOptions, 'doorbell' | 'log'>> & Pick<SealerOptions, 'log'>;

  constructor(opts: SealerOptions) {
    super(opts.doorbell);
    this.opts = { batchSize: SEAL_BATCH, pollMs: 1000, gatherMs: 50, ...opts };
  }

  protected async loop(): Promise<void> {
    while (!this.stopping) {
      let sealed: number;
      try {
        sealed = await sealAll(this.opts.pool, this.opts.batchSize);
        this.failures = 0;
      } catch (err) {
        await this.backOff(err, 'audit sealer failed; backing off', this.opts.log);
        continue;
      }
      // A full batch leaves more waiting: seal again at once. Otherwise wait for new commits
      // and let a burst of them land, so one seal (one commit of its own) links them all;
      // sealing again after every non-empty seal cost a commit per three or four writes.
      if (sealed >= this.opts.batchSize || this.stopping) continue;
      await this.doorbell.wait(this.opts.pollMs);
      if (!this.stopping) await sleep(this.opts.gatherMs);
    }
  }
}

export interface SealerOptions {
  pool: Pool;
  /** Entries per organization per seal. */
  batchSize?: number;
  pollMs?: number;
  /** After a wake-up, how long to wait for more commits before sealing. */
  gatherMs?: number;
  doorbell?: Doorbell;
  log?: { warn: (obj: object, msg: string) => void };
}

/** One seal over every organization with pending entries; returns how many were linked. */
export async function sealAll(pool: Pool, batchSize: number): Promise<number> {
  const res = await pool.query<{ n: number }>('SELECT basalt_seal_audit_all($1) AS n', [batchSize]);
  return res.rows[0].n;
}

/**
 * Links everything the organization committed so far, waiting for a background sealer that
 * holds it: what an audit read runs first, so it sees every committed change in the chain.
 * Bounded (after a very large import the rest is left to the background sealer; the reader
 * can count what is still pending). Returns how many entries it linked.
 */
export async function sealOrganization(pool: Pool, orgId: string, max = 20_000): Promise<number> {
  let sealed = 0;
  while (sealed < max) {
    const step = Math.min(max - sealed, SEAL_BATCH);
    let n: number;
    try {
      n = (await pool.query<{ n: number }>('SELECT basalt_seal_audit($1, $2, true) AS n', [orgId, step])).rows[0].n;
    } catch (err) {
      // The read still answers with what is linked (verify counts the rest as pending); an
      // unreachable database fails the read itself a moment later.
      if (isConnectionError(err)) throw err;
      break;
    }
    sealed += n;
    if (n < step) break;
  }
  return sealed;
}
