-- Search: whole words before prefixes, prefixes from the GIN index only, no typo
-- tolerance under six characters (docs/performance.md, "Search: whole words first, and
-- search as you type (2026-12-02 evening)").
--
-- basalt_search_candidates (migration 0011) changes in three places:
-- * It asks for the whole words ('chen' & 'becker') before the form with a prefix on the
--   last word ('chen' & 'becker':*), and runs the prefix form only when whole words found
--   fewer candidates than asked for. At 1 M contacts the contacts branch of a search for a
--   common full name took 16-18 ms in the GIN index (a partial match builds a bitmap of
--   every lexeme it starts), 3 ms for the whole words.
-- * The prefix forms run with plain index and sequential scans off (see there).
-- * The trigram branches run only when full text found nothing, and need six characters.
-- Migrations are history, so the whole function is restated here.
-- Does every prefix of the query ('che' in 'chen' & 'che':*) start some lexeme of the
-- object's most common ones (the planner's statistics of its search_vector column)? Only
-- then does the planner know how many rows the prefix matches (see the caller). Table
-- names come from the caller's whitelist.
CREATE FUNCTION basalt_search_prefixes_frequent(p_table text, p_query tsquery)
RETURNS boolean
LANGUAGE sql STABLE SET search_path = public, pg_temp AS
$fn$
  SELECT coalesce(bool_and(EXISTS (
           SELECT 1
           FROM pg_stats s, unnest(s.most_common_elems::text::text[]) AS e(lexeme)
           WHERE s.schemaname = 'public' AND s.tablename = p_table AND s.attname = 'search_vector'
             AND starts_with(e.lexeme, m.prefix[1]))), true)
  FROM regexp_matches(p_query::text, '''([^'']+)'':\*', 'g') AS m(prefix)
$fn$;
REVOKE ALL ON FUNCTION basalt_search_prefixes_frequent(text, tsquery) FROM PUBLIC;

CREATE OR REPLACE FUNCTION basalt_search_candidates(p_object text, p_query text, p_tsquery text, p_tsquery_strict text,
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
  v_exact  tsquery;
  v_scan   text;
  v_seq    text;
  v_words  text;
  v_match  text;
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
    -- Whole words first (migration 0015): 'chen' & 'becker'. A prefix ('becker':*) is a
    -- partial match in the GIN index, which gathers every lexeme it starts into a bitmap
    -- before intersecting; whole words intersect posting lists directly: 3 ms instead of
    -- 16-18 ms for a common full name at 1 M contacts. Enough whole-word hits are the best
    -- candidates anyway (they rank above prefix-only hits); too few, and the prefix form
    -- adds to them (a name still being typed). The text form is safe to edit: tokens are
    -- letters and digits, so ':*' occurs only as the prefix flag.
    v_exact := to_tsquery('simple', replace(v_strict::text, ':*', ''));
    -- The full-text candidate statement; $3 is the tsquery. Ids found twice are harmless:
    -- the ranking below reads t.id = ANY (v_ids).
    v_match := format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND t.search_vector @@ $3 LIMIT $4) s', v_from);
    EXECUTE v_match INTO v_ids USING v_org, v_owners, v_exact, v_pool;
    IF cardinality(v_ids) < v_limit THEN
      -- A prefix no frequent lexeme starts with is answered from the GIN index only. The
      -- planner then guesses a floor of ~2 % of the rows (2,994 of 150 k opportunities for
      -- 'che':*, where none matches), so under a LIMIT it walks the tenant's btree filtering
      -- every row: 183 ms for nothing, about 1.5 s over 1.4 M contacts; the GIN bitmap of such
      -- a prefix is small. A prefix of frequent lexemes ('ne':*, 'new' in half the rows) keeps
      -- the planner's choice: it knows their frequencies, and walking the btree finds 200 of
      -- them at once (as a bitmap: 270 ms). Asked only when a prefix form runs; the settings
      -- are put back right after; they are transaction-local, so an error reverts them too.
      v_scan := current_setting('enable_indexscan');
      v_seq := current_setting('enable_seqscan');
      IF NOT basalt_search_prefixes_frequent(v_table, v_tsq) THEN
        PERFORM set_config('enable_indexscan', 'off', true), set_config('enable_seqscan', 'off', true);
      END IF;
      -- With whole words before the prefix ('felix' & 'ne':*), the index is asked for the
      -- whole words only and the prefix is checked on their rows: the GIN index would
      -- otherwise gather every row of every lexeme the prefix starts ('new' in 900 k
      -- contacts: 870 ms) to intersect it with a few thousand. IS TRUE keeps the planner
      -- from using the index for that second test.
      v_words := regexp_replace(v_strict::text, ' & ''[^'']+'':\*$', '');
      IF v_words <> v_strict::text THEN
        EXECUTE format('SELECT coalesce(array_agg(s.id), ''{}'') FROM (SELECT t.id FROM %s AND t.search_vector @@ $3 AND (t.search_vector @@ $5) IS TRUE LIMIT $4) s', v_from)
          INTO v_more USING v_org, v_owners, to_tsquery('simple', v_words), v_pool, v_strict;
      ELSE
        EXECUTE v_match INTO v_more USING v_org, v_owners, v_strict, v_pool;
      END IF;
      v_ids := v_ids || v_more;
      -- Compared as text: tsquery equality ignores prefix flags ('wilh' & 'quarr':* equals
      -- 'wilh':* & 'quarr':*), so 0008 never took this fallback; its trigram branch hid that.
      IF cardinality(v_ids) = 0 AND coalesce(p_tsquery_strict, '') <> '' AND p_tsquery_strict <> p_tsquery THEN
        EXECUTE v_match INTO v_ids USING v_org, v_owners, v_tsq, v_pool;
      END IF;
      PERFORM set_config('enable_indexscan', v_scan, true), set_config('enable_seqscan', v_seq, true);
    END IF;
  END IF;
  -- Trigram threshold (migration 0011): a query of several words is a whole name, and a
  -- typo leaves its similarity to the right title above 0.5 ('jon smiht' ~ 'jon smith'
  -- 0.54); at 0.3 every title sharing one word's trigrams passed the index and was rechecked
  -- ('vera berg': 25,000 account names, 0.5 s). A single word keeps 0.3 ('smiht' ~ 'smith'
  -- 0.33). Local to the transaction: the search is its only statement.
  PERFORM set_config('pg_trgm.similarity_threshold', CASE WHEN btrim(p_query) ~ '\s' THEN '0.5' ELSE '0.3' END, true);
  -- Typo tolerance is for a query full text found nothing for (0011: fewer than the limit).
  -- With a few exact hits the trigram pass found little more and could cost seconds: under
  -- a LIMIT the planner takes `%` to match ~4 % of the rows and scans the table for 200
  -- similar titles that are not there ('new person 796796' among 900 k "New Person n"
  -- contacts, similar below 0.5: 1.9 M similarities, 7-8 s under load). And it needs six
  -- characters: the GIN index passes every title sharing threshold x (trigrams of the query)
  -- trigrams with it, which for a short word is any title with a word that starts the same
  -- ('car' and 'carlo' both pass 125,000 activity subjects starting "ca", rechecked in
  -- 0.7-1.2 s; 'carlos' passes none, 1 ms). A typo in a shorter word is rarely similar
  -- enough to be found anyway ('jhon' ~ 'john' 0.11).
  IF cardinality(v_ids) = 0 AND length(regexp_replace(p_query, '\s', '', 'g')) >= 6 THEN
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

