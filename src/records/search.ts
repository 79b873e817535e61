import type { Actor } from '../auth/actor.ts';
import { can } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { validationError } from '../http/errors.ts';
import { STANDARD_OBJECTS } from '../objects/definitions.ts';

export interface SearchHit {
  object: string;
  id: string;
  title: string;
  subtitle: string | null;
  score: number;
  updatedAt: string;
}

const SUBTITLE: Record<string, string> = {
  accounts: 't.domain',
  contacts: 't.email',
  leads: "coalesce(t.company, t.email)",
  opportunities: 't.stage',
  cases: 't.status',
  activities: 't.type',
};

/**
 * Cross-object search: prefix full-text over every searchable field (weighted), plus
 * trigram similarity on titles and emails, so "jan smi", "Jan Smith" and "jansmith@"
 * all find Jan Smith. Only objects the caller may read; row-level security does the rest.
 */
export async function searchRecords(pool: Pool, actor: Actor, query: Record<string, unknown>): Promise<{ data: SearchHit[] }> {
  const errors = [];
  for (const k of Object.keys(query)) {
    if (!['q', 'objects', 'limit'].includes(k)) errors.push({ path: k.slice(0, 100), message: 'unknown query parameter' });
  }
  const q = query.q;
  if (typeof q !== 'string' || q.trim() === '' || q.length > 200 || q.includes('\u0000') || !q.isWellFormed()) {
    errors.push({ path: 'q', message: 'give 1 to 200 characters of text' });
  }
  let objects = STANDARD_OBJECTS.map((o) => o.name);
  if (query.objects !== undefined) {
    if (typeof query.objects !== 'string') errors.push({ path: 'objects', message: 'must be a comma-separated list' });
    else {
      objects = query.objects.split(',').map((s) => s.trim()).filter(Boolean);
      for (const o of objects) {
        if (!STANDARD_OBJECTS.some((d) => d.name === o)) errors.push({ path: 'objects', message: `unknown object "${o.slice(0, 64)}"` });
      }
    }
  }
  let limit = 20;
  if (query.limit !== undefined) {
    if (typeof query.limit !== 'string' || !/^\d{1,3}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > 100) {
      errors.push({ path: 'limit', message: 'must be an integer from 1 to 100' });
    } else limit = Number(query.limit);
  }
  if (errors.length) throw validationError(errors);
  const text = (q as string).trim();
  const tokens = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 8);
  const tsquery = tokens.map((t) => `'${t}':*`).join(' & ');
  const readable = STANDARD_OBJECTS.filter((o) => objects.includes(o.name) && can(actor, o.name, 'read'));
  if (readable.length === 0) return { data: [] };

  const parts = readable.map((o) => {
    const trigram = [o.titleSql, ...(o.trigramSql ?? [])];
    const match = [
      ...(tsquery ? ['t.search_vector @@ to_tsquery(\'simple\', $4)'] : []),
      ...trigram.map((e) => `(${e}) % $1`),
    ].join(' OR ');
    const similarity = trigram.length > 1 ? `greatest(${trigram.map((e) => `coalesce(similarity(${e}, $1), 0)`).join(', ')})` : `similarity(${trigram[0]}, $1)`;
    const rank = tsquery ? `ts_rank(t.search_vector, to_tsquery('simple', $4))` : '0';
    return `(SELECT '${o.name}' AS object, t.id, ${o.titleSql} AS title, ${SUBTITLE[o.name]} AS subtitle,
                    (${rank} + ${similarity})::float8 AS score, t.updated_at
             FROM ${o.table} t
             WHERE t.organization_id = $2 AND t.deleted_at IS NULL AND (${match})
             ORDER BY score DESC LIMIT $3)`;
  });
  const sql = `SELECT * FROM (${parts.join(' UNION ALL ')}) hits ORDER BY score DESC, updated_at DESC LIMIT $3`;
  return withTenant(
    pool,
    actor,
    async (client) => {
      // The tsquery is a parameter only when there is one: a query of punctuation alone
      // ("'", "&|!") has no tokens, and an unreferenced parameter is a PostgreSQL error.
      const res = await client.query(sql, tsquery ? [text, actor.orgId, limit, tsquery] : [text, actor.orgId, limit]);
      return {
        data: res.rows.map((r) => ({
          object: r.object,
          id: r.id,
          title: String(r.title).trim(),
          subtitle: r.subtitle,
          score: Math.round(Number(r.score) * 10_000) / 10_000,
          updatedAt: (r.updated_at as Date).toISOString(),
        })),
      };
    },
    { readOnly: true },
  );
}
