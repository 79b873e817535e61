-- Search under row-level security (docs/decisions/0009-search-under-rls.md).
--
-- Under the application role the planner may not evaluate the `@@` (full text) and `%`
-- (pg_trgm) quals — not LEAKPROOF — before the row-level security quals, so it cannot
-- drive the GIN indexes with them and filters every row of the organization instead.
-- This definer function answers one narrow question: "which records of the CURRENT
-- tenant match this search, best first?" It returns candidate (id, score) pairs and no
-- record data; the caller joins them back to the table under row-level security, which
-- still decides what the caller may read.
--
-- * The tenant comes from the session (basalt_org()), never from a parameter.
-- * The caller's read scope (admin / owner / team / sharing default) is applied here as a
--   pre-filter, read from the same session settings as the tenant_read policy, so
--   visibility filtering afterwards rarely starves the result and the function reveals no
--   id the caller could not already read. It is not the authority: if it ever disagreed
--   with the policy, the join under RLS drops the row (a missing hit, never a leak).
-- * Bounded: every branch takes at most p_pool index matches, only those are ranked, at
--   most p_limit are returned, so a very common prefix cannot make it rank 500k rows.
--   Cheapest first: full text with whole words and a prefix on the last word
--   (p_tsquery_strict: 'jan' & 'smi':*); every word as a prefix (p_tsquery: 'jan':* &
--   'smi':*) only if that found nothing (a short prefix expands to every lexeme it starts,
--   e.g. every e-mail address, which is what made search slow); trigram similarity on the
--   title, and on the e-mail for a query without spaces ("jansmith@"), only when full text
--   found fewer than p_limit. Ranking is always ts_rank(p_tsquery) + best similarity.
-- * The object is a whitelisted name; the SQL is built from constant fragments only.
CREATE FUNCTION basalt_search_candidates(p_object text, p_query text, p_tsquery text, p_tsquery_strict text,
                                         p_pool integer, p_limit integer)
RETURNS TABLE (id uuid, score float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_org    uuid := basalt_org();
  v_owners uuid[];
  v_table  text;
  v_title  text;
  v_email  text;
  v_from   text;
  v_sim    text;
  v_ids    uuid[] := '{}';
  v_more   uuid[];
  v_pool   integer := least(greatest(coalesce(p_pool, 1), 1), 1000);
  v_limit  integer := least(greatest(coalesce(p_limit, 1), 1), 1000);
  v_tsq    tsquery;
  v_strict tsquery;
BEGIN
  IF v_org IS NULL OR p_query IS NULL OR p_query = '' THEN
    RETURN;
  END IF;
  CASE p_object
    WHEN 'accounts' THEN v_table := 'accounts'; v_title := 't.name';
    WHEN 'contacts' THEN v_table := 'contacts'; v_title := $$(coalesce(t.first_name, '') || ' ' || t.last_name)$$; v_email := 't.email';
    WHEN 'leads' THEN v_table := 'leads'; v_title := $$(coalesce(t.first_name, '') || ' ' || t.last_name)$$; v_email := 't.email';
    WHEN 'opportunities' THEN v_table := 'opportunities'; v_title := 't.name';
    WHEN 'cases' THEN v_table := 'cases'; v_title := 't.subject';
    WHEN 'activities' THEN v_table := 'activities'; v_title := 't.subject';
    ELSE RAISE EXCEPTION 'unknown object %', p_object USING ERRCODE = 'invalid_parameter_value';
  END CASE;

  -- The read scope of policy tenant_read (migrations/0001_core.sql), resolved once: all of
  -- the tenant's records, or those of the caller (and, for a manager, of their team).
  IF current_setting('basalt.read_all', true) = 'on'
     OR coalesce((SELECT o.sharing_default <> 'private' FROM organizations o WHERE o.id = v_org), false) THEN
    v_from := format('%I t WHERE t.organization_id = $1 AND t.deleted_at IS NULL', v_table);
  ELSE
    v_owners := ARRAY[basalt_user()];
    IF current_setting('basalt.team_scope', true) = 'on' THEN
      v_owners := v_owners || ARRAY(SELECT u.id FROM users u WHERE u.organization_id = v_org AND u.team_id = basalt_team());
    END IF;
    v_from := format('%I t WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND t.owner_id = ANY ($2)', v_table);
  END IF;

  IF coalesce(p_tsquery, '') <> '' THEN
    v_tsq := to_tsquery('simple', p_tsquery);
    v_strict := CASE WHEN coalesce(p_tsquery_strict, '') = '' THEN v_tsq ELSE to_tsquery('simple', p_tsquery_strict) END;
    EXECUTE format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND t.search_vector @@ $3 LIMIT $4) s', v_from)
      INTO v_ids USING v_org, v_owners, v_strict, v_pool;
    IF cardinality(v_ids) = 0 AND v_strict IS DISTINCT FROM v_tsq THEN
      EXECUTE format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND t.search_vector @@ $3 LIMIT $4) s', v_from)
        INTO v_ids USING v_org, v_owners, v_tsq, v_pool;
    END IF;
  END IF;
  IF cardinality(v_ids) < v_limit THEN
    EXECUTE format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND %s %% $3 LIMIT $4) s', v_from, v_title)
      INTO v_more USING v_org, v_owners, p_query, v_pool;
    v_ids := v_ids || v_more;
    IF v_email IS NOT NULL AND cardinality(v_ids) < v_limit AND p_query !~ '\s' THEN
      EXECUTE format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND %s %% $3 LIMIT $4) s', v_from, v_email)
        INTO v_more USING v_org, v_owners, p_query, v_pool;
      v_ids := v_ids || v_more;
    END IF;
  END IF;
  IF cardinality(v_ids) = 0 THEN
    RETURN;
  END IF;

  v_sim := CASE WHEN v_email IS NULL THEN format('coalesce(similarity(%s, $2), 0)', v_title)
                ELSE format('greatest(coalesce(similarity(%s, $2), 0), coalesce(similarity(%s, $2), 0))', v_title, v_email) END;
  RETURN QUERY EXECUTE format(
    'SELECT t.id, (%s + %s)::float8 FROM %I t WHERE t.organization_id = $1 AND t.id = ANY ($4) ORDER BY 2 DESC, t.id LIMIT $5',
    CASE WHEN v_tsq IS NULL THEN '0' ELSE 'ts_rank(t.search_vector, $3)' END, v_sim, v_table)
  USING v_org, p_query, v_tsq, v_ids, v_limit;
END
$fn$;

REVOKE ALL ON FUNCTION basalt_search_candidates(text, text, text, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_search_candidates(text, text, text, text, integer, integer) TO basalt_app_access;
