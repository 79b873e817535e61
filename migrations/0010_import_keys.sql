-- Upsert-key lookups under row-level security (docs/decisions/0011-import-key-lookup.md).
--
-- An import's upsert finds the live records its keys name: `lower(email) = ANY(keys)`.
-- Under the application role the planner may not evaluate lower() — not LEAKPROOF — before
-- the row-level security quals, so it cannot use the (organization_id, lower(email))
-- index and filtered every row of the organization instead: 0.74 s per 2,000-row batch at
-- 280 k contacts, three quarters of an import's database time.
--
-- This definer function answers one narrow question: "which live records of the CURRENT
-- tenant carry one of these keys?" It returns ids only; the import then reads and locks
-- those rows by primary key under row-level security, which still decides what the caller
-- may see (a record it cannot see is not matched, as before).
-- * The tenant comes from the session (basalt_org()), never from a parameter.
-- * Object and key are whitelisted; the SQL is built from constant fragments only.
CREATE FUNCTION basalt_upsert_candidates(p_object text, p_key text, p_keys text[])
RETURNS TABLE (id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_org  uuid := basalt_org();
  v_expr text;
BEGIN
  IF v_org IS NULL THEN
    RETURN;
  END IF;
  v_expr := CASE
    WHEN p_key = 'externalId' AND p_object IN ('accounts', 'contacts', 'leads', 'opportunities', 'cases', 'activities') THEN 't.external_id'
    WHEN p_key = 'email' AND p_object IN ('contacts', 'leads') THEN 'lower(t.email)'
    WHEN p_key = 'domain' AND p_object = 'accounts' THEN 'lower(t.domain)'
  END;
  IF v_expr IS NULL THEN
    RAISE EXCEPTION 'no upsert key % on %', p_key, p_object USING ERRCODE = '22023';
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT t.id FROM %I t WHERE t.organization_id = $1 AND t.deleted_at IS NULL AND %s = ANY($2)', p_object, v_expr)
    USING v_org, p_keys;
END
$fn$;
REVOKE ALL ON FUNCTION basalt_upsert_candidates(text, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_upsert_candidates(text, text, text[]) TO basalt_app_access;
