import type { Actor } from '../auth/actor.ts';
import type { Pool } from '../db/pool.ts';
import { validationError } from '../http/errors.ts';
import { aggregateRecords } from '../records/aggregate.ts';

export interface PipelineRow {
  stage: string;
  currency: string | null;
  count: number;
  amount: string;
}

/**
 * Open and closed pipeline: count and sum of amount per stage (and currency: amounts in
 * different currencies are never added up). A fixed view of the general aggregate
 * (`GET /api/v1/opportunities/aggregate?groupBy=stage,currency&sum=amount`), so both
 * count the same records: the ones row-level security lets the caller read.
 */
export async function pipelineReport(pool: Pool, actor: Actor, query: Record<string, unknown>): Promise<{ data: PipelineRow[] }> {
  const unknown = Object.keys(query);
  if (unknown.length) throw validationError([{ path: unknown[0].slice(0, 100), message: 'unknown query parameter' }]);
  const { data } = await aggregateRecords(pool, actor, 'opportunities', { groupBy: 'stage,currency', sum: 'amount', limit: '1000' });
  return {
    data: data.map((r) => ({
      stage: String(r.group.stage),
      currency: (r.group.currency as string | null) ?? null,
      count: r.count,
      amount: r.sum ?? '0.00',
    })),
  };
}
