-- Append to an organization's audit chain in one statement (docs/performance.md, "Create
-- lead at half load (2026-12-02)").
--
-- The write path used to lock the chain head (SELECT … FOR UPDATE), compute each entry's
-- hash in the application, then INSERT the entries and UPDATE the head: the row lock was
-- held across a round trip to the application, so a pause of that node's event loop (GC,
-- a busy moment) stalled every writer of the organization behind it. This function takes
-- the lock, links the entries and writes them inside the database, so the lock is held only
-- while SQL runs (and the write path sends COMMIT in the same message).
--
-- The hash is the one src/audit/chain.ts defines and the verifier recomputes:
--   hash(n) = hex(SHA-256(hash(n-1) || "\n" || canonical(entry n)))
-- canonical(entry) has its keys sorted and "seq" sorts last, so the application sends each
-- entry's canonical JSON without "seq" (`body`, ending in "}") and the function splices in
-- `,"seq":<n>` before the closing brace: the only part of an entry not known before the lock.
-- Runs as the caller (row-level security applies to both tables).
CREATE FUNCTION basalt_append_audit(p_org uuid, p_entries jsonb) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_seq    bigint;
  v_hash   text;
  v_seqs   bigint[] := '{}';
  v_prevs  text[] := '{}';
  v_hashes text[] := '{}';
  v_body   text;
BEGIN
  SELECT h.seq, h.head_hash INTO v_seq, v_hash FROM audit_heads h WHERE h.organization_id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit chain head missing for organization %', p_org;
  END IF;
  FOR v_body IN SELECT e->>'body' FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS x(e, n) ORDER BY n LOOP
    v_seq := v_seq + 1;
    v_prevs := v_prevs || v_hash;
    v_hash := encode(sha256(convert_to(v_hash || E'\n' || left(v_body, -1) || ',"seq":' || v_seq::text || '}', 'UTF8')), 'hex');
    v_seqs := v_seqs || v_seq;
    v_hashes := v_hashes || v_hash;
  END LOOP;
  INSERT INTO audit_log (organization_id, seq, id, at, actor_id, actor_type, request_id, object, record_id,
                         action, changes, context, prev_hash, hash)
  SELECT p_org, v_seqs[x.n], (x.e->>'id')::uuid, (x.e->>'at')::timestamptz, (x.e->>'actorId')::uuid, x.e->>'actorType',
         x.e->>'requestId', x.e->>'object', (x.e->>'recordId')::uuid, x.e->>'action', x.e->'changes', x.e->'context',
         v_prevs[x.n], v_hashes[x.n]
  FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS x(e, n)
  ORDER BY x.n;
  UPDATE audit_heads SET seq = v_seq, head_hash = v_hash WHERE organization_id = p_org;
  RETURN v_seq;
END
$fn$;
REVOKE ALL ON FUNCTION basalt_append_audit(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_append_audit(uuid, jsonb) TO basalt_app_access;
