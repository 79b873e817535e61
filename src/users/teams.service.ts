import { newId } from '../ids.ts';
import type { Actor } from '../auth/actor.ts';
import { isUniqueViolation } from '../auth/auth.service.ts';
import { readBody, text } from '../auth/input.ts';
import { requireAdmin } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError } from '../http/errors.ts';
import { type RecordsDeps, type RequestCtx, write } from '../records/records.service.ts';
import type { WriteResult } from '../write/write-path.ts';

export interface TeamView {
  id: string;
  name: string;
  createdAt: string;
}

function toView(row: Record<string, unknown>): TeamView {
  return { id: String(row.id), name: String(row.name), createdAt: (row.created_at as Date).toISOString() };
}

export async function createTeam(deps: RecordsDeps, ctx: RequestCtx, body: unknown): Promise<WriteResult> {
  requireAdmin(ctx.actor);
  const input = readBody(body, { name: text({ max: 200 }) });
  return write(deps, ctx, 'POST /api/v1/teams', input, async (tx) => {
    const id = newId();
    let team: TeamView;
    try {
      const res = await tx.client.query('INSERT INTO teams (organization_id, id, name) VALUES ($1, $2, $3) RETURNING *', [
        ctx.actor.orgId,
        id,
        input.name,
      ]);
      team = toView(res.rows[0]);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError('already_exists', 'A team with this name already exists.', [{ path: 'name', message: 'is already in use' }]);
      }
      throw err;
    }
    tx.audit({ object: 'teams', recordId: id, action: 'create', changes: [{ field: 'name', old: null, new: team.name }] });
    tx.emit({ type: 'team.created', object: 'teams', recordId: id, payload: { name: team.name } });
    return { status: 201, body: team, headers: { Location: `/api/v1/teams/${id}` } };
  });
}

/** Every signed-in user may list teams (forms and filters show them). */
export async function listTeams(pool: Pool, actor: Actor): Promise<{ data: TeamView[] }> {
  const res = await withTenant(pool, actor, (c) => c.query('SELECT * FROM teams ORDER BY name, id'), { readOnly: true });
  return { data: res.rows.map(toView) };
}
