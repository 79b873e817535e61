import type { Actor } from '../auth/actor.ts';
import { can } from '../auth/permissions.ts';
import type { Pool } from '../db/pool.ts';
import { withTenant } from '../db/session.ts';
import { AppError, validationError } from '../http/errors.ts';
import { type ObjectDef, STANDARD_OBJECTS } from '../objects/definitions.ts';
import { sqlState } from '../write/retry.ts';

export interface SearchHit {
  object: string;
  id: string;
  title: string;
  subtitle: string | null;
  score: number;
  updatedAt: string;
}

/** Candidates asked of each object per result wanted, and the least number of index matches ranked. */
const CANDIDATE_FACTOR = 4;
const POOL = 200;

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
 * A statement timeout is answered 503 (retryable), not 500.
 */
/**
 * The search statement and its parameters. Exported so the benchmark's raw baseline runs
 * exactly the same database work (as the owner, without HTTP and application code).
 */
export function searchQuery(objects: readonly ObjectDef[], text: string, orgId: string, limit: number): { sql: string; params: unknown[] } {
  let tokens = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean)
    .slice(0, 8);
  // A one-character prefix makes the GIN index gather every lexeme starting with that
  // letter (87 ms for the contacts alone at 1 M contacts, 146 ms for a lone "c"), so no
  // single character is ever a prefix. As the last word after others it is a name still
  // being typed ("jan s"): it is left out of the match (the similarity ranking still reads
  // the whole text), and the word before it, followed by a space, counts as whole.
  const oneChar = (t: string) => [...t].length === 1;
  const typing = tokens.length > 1 && oneChar(tokens[tokens.length - 1]);
  if (typing) tokens = tokens.slice(0, -1);
  const prefix = (t: string) => (oneChar(t) ? `'${t}'` : `'${t}':*`);
  // Every word as a prefix ('jan':* & 'smi':*), and the cheaper form tried first: whole
  // words with a prefix on the last one ('jan' & 'smi':*). Tokens are letters and digits
  // only, so quoting them is safe.
  const tsquery = tokens.map(prefix).join(' & ');
  const strict = tokens.map((t, i) => (i === tokens.length - 1 && !typing ? prefix(t) : `'${t}'`)).join(' & ');
  // Candidates come from basalt_search_candidates (migrations/0008_search.sql): a definer
  // function that drives the GIN indexes for the current tenant, bounded, and returns
  // (id, score) only. Joining them back here, under row-level security, is what decides
  // which records the caller sees (docs/decisions/0009-search-under-rls.md).
  const parts = objects.map(
    (o) => `(SELECT '${o.name}' AS object, t.id, ${o.titleSql} AS title, ${SUBTITLE[o.name]} AS subtitle, c.score, t.updated_at
             FROM basalt_search_candidates('${o.name}', $1, $3, $4, $5, $6) c
             JOIN ${o.table} t ON t.organization_id = $2 AND t.id = c.id
             WHERE t.deleted_at IS NULL)`,
  );
  const sql = `SELECT * FROM (${parts.join(' UNION ALL ')}) hits ORDER BY score DESC, updated_at DESC LIMIT $7`;
  // Enough candidates per object that visibility filtering (already applied as a pre-filter
  // in the function) and the cross-object merge rarely starve the page; ranked among a
  // pool of at least POOL index matches.
  const candidates = limit * CANDIDATE_FACTOR;
  return { sql, params: [text, orgId, tsquery || null, strict || null, Math.max(POOL, candidates), candidates, limit] };
}

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
  const readable = STANDARD_OBJECTS.filter((o) => objects.includes(o.name) && can(actor, o.name, 'read'));
  if (readable.length === 0) return { data: [] };
  const { sql, params } = searchQuery(readable, (q as string).trim(), actor.orgId, limit);
  try {
    return await withTenant(
      pool,
      actor,
      async (client) => {
        const res = await client.query(sql, params);
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
  } catch (err) {
    // A search that ran into the statement timeout is overload, not a bug: 503, retry later.
    if (sqlState(err) === '57014') {
      throw new AppError('unavailable', 'Search took too long; retry shortly.', undefined, undefined, { 'Retry-After': '1' });
    }
    throw err;
  }
}
