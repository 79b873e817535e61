import type { Actor } from '../auth/actor.ts';
import { requirePermission } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { validationError } from '../http/errors.ts';
import { OPPORTUNITY_STAGES } from '../objects/definitions.ts';

export interface PipelineRow {
  stage: string;
  currency: string | null;
  count: number;
  amount: string;
}

/**
 * Open and closed pipeline: count and sum of amount per stage (and currency: amounts in
 * different currencies are never added up). Row-level security decides what is counted,
 * so each caller sees the pipeline of the records they may read.
 */
export async function pipelineReport(pool: Pool, actor: Actor, query: Record<string, unknown>): Promise<{ data: PipelineRow[] }> {
  requirePermission(actor, 'opportunities', 'read');
  const unknown = Object.keys(query);
  if (unknown.length) throw validationError([{ path: unknown[0].slice(0, 100), message: 'unknown query parameter' }]);
  return withTenant(
    pool,
    actor,
    async (c) => {
      const res = await c.query<{ stage: string; currency: string | null; count: number; amount: string }>(
        `SELECT t.stage, t.currency, count(*)::int AS count, coalesce(sum(t.amount), 0)::numeric(20, 2)::text AS amount
         FROM opportunities t WHERE t.organization_id = $1 AND t.deleted_at IS NULL
         GROUP BY t.stage, t.currency ORDER BY array_position($2::text[], t.stage), t.currency NULLS LAST`,
        [actor.orgId, OPPORTUNITY_STAGES],
      );
      return { data: res.rows };
    },
    { readOnly: true },
  );
}
