-- Audit entries are written with their change and linked into the chain just after
-- (docs/decisions/0012-audit-sealing.md).
--
-- Linking at commit time (0012) made every write of an organization wait for the one before
-- it to be durable: the chain head's row lock is released only after the COMMIT's WAL flush,
-- so an organization's commits were serialised one fsync at a time (measured: with
-- synchronous_commit = off the create-lead p99 at half load fell from 90–105 ms to 22 ms).
--
-- Now the write path inserts each entry into audit_pending, in the transaction of its
-- change and without any shared lock; a sealer (every node runs one, and every audit read
-- seals first) moves committed pending entries into audit_log in pending order, assigning
-- seq and the hash exactly as 0012 did, under the chain head's lock. audit_log itself, its
-- hash rule, its append-only triggers and the verifier are unchanged. Bulk writes (import
-- batches) still link their entries in their own transaction (basalt_append_audit_linked).

CREATE TABLE audit_pending (
  organization_id uuid NOT NULL,
  pseq            bigint GENERATED ALWAYS AS IDENTITY,
  -- { id, at, actorId, actorType, requestId, object, recordId, action, changes, context,
  --   body }: body is the entry's canonical JSON without seq (src/audit/chain.ts).
  entry           jsonb NOT NULL,
  PRIMARY KEY (organization_id, pseq)
);
-- No foreign key: the row lives until the next seal, and audit_log, where it goes, has one.
ALTER TABLE audit_pending ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON audit_pending USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org());
GRANT SELECT, INSERT ON audit_pending TO basalt_app_access;

-- The write path's call, unchanged in shape: the entries of one transaction, in order.
-- Runs as the caller (row-level security checks the organization).
CREATE OR REPLACE FUNCTION basalt_append_audit(p_org uuid, p_entries jsonb) RETURNS bigint
LANGUAGE sql SET search_path = public, pg_temp AS
$fn$
  INSERT INTO audit_pending (organization_id, entry)
  SELECT p_org, x.e FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS x(e, n) ORDER BY x.n;
  SELECT jsonb_array_length(p_entries)::bigint;
$fn$;

-- Appends entries, in the order given, to the organization's chain, whose head row the caller
-- has locked in this transaction. The hash is the one src/audit/chain.ts defines and the
-- verifier recomputes: hash(n) = hex(SHA-256(hash(n-1) || "\n" || canonical(entry n))), where
-- canonical(entry) is the entry's `body` (its canonical JSON without "seq", which sorts last)
-- with `,"seq":<n>` spliced in before the closing brace. Not callable by the application: only
-- the two functions below call it.
CREATE FUNCTION basalt_link_audit(p_org uuid, p_entries jsonb[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_seq    bigint;
  v_hash   text;
  v_seqs   bigint[] := '{}';
  v_prevs  text[] := '{}';
  v_hashes text[] := '{}';
  v_entry  jsonb;
BEGIN
  SELECT h.seq, h.head_hash INTO STRICT v_seq, v_hash FROM audit_heads h WHERE h.organization_id = p_org;
  FOREACH v_entry IN ARRAY p_entries LOOP
    v_seq := v_seq + 1;
    v_prevs := v_prevs || v_hash;
    v_hash := encode(sha256(convert_to(v_hash || E'\n' || left(v_entry->>'body', -1) || ',"seq":' || v_seq::text || '}', 'UTF8')), 'hex');
    v_seqs := v_seqs || v_seq;
    v_hashes := v_hashes || v_hash;
  END LOOP;
  INSERT INTO audit_log (organization_id, seq, id, at, actor_id, actor_type, request_id, object, record_id,
                         action, changes, context, prev_hash, hash)
  SELECT p_org, v_seqs[x.n], (x.e->>'id')::uuid, (x.e->>'at')::timestamptz, (x.e->>'actorId')::uuid, x.e->>'actorType',
         x.e->>'requestId', x.e->>'object', (x.e->>'recordId')::uuid, x.e->>'action', x.e->'changes', x.e->'context',
         v_prevs[x.n], v_hashes[x.n]
  FROM unnest(p_entries) WITH ORDINALITY AS x(e, n)
  ORDER BY x.n;
  UPDATE audit_heads SET seq = v_seq, head_hash = v_hash WHERE organization_id = p_org;
  RETURN coalesce(array_length(p_entries, 1), 0);
END
$fn$;
REVOKE ALL ON FUNCTION basalt_link_audit(uuid, jsonb[]) FROM PUBLIC;

-- Links up to p_max committed pending entries of one organization into its chain and
-- returns how many. p_wait: wait for another sealer of the organization (a reader that must
-- see everything committed before it) or skip the organization (a background sealer).
-- SECURITY DEFINER so a background sealer serves every tenant; it only ever moves entries
-- the tenants' own transactions committed, in the order they were written.
CREATE FUNCTION basalt_seal_audit(p_org uuid, p_max integer, p_wait boolean) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_entries jsonb[];
BEGIN
  -- Nothing to do is the common case for readers: no row lock, so no transaction id and no
  -- commit to flush.
  IF NOT EXISTS (SELECT 1 FROM audit_pending WHERE organization_id = p_org) THEN
    RETURN 0;
  END IF;
  IF p_wait THEN
    PERFORM 1 FROM audit_heads h WHERE h.organization_id = p_org FOR UPDATE;
  ELSE
    PERFORM 1 FROM audit_heads h WHERE h.organization_id = p_org FOR UPDATE SKIP LOCKED;
  END IF;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  -- Read after the lock (a new snapshot per statement): what an earlier sealer moved is gone.
  WITH taken AS (
    DELETE FROM audit_pending p
    WHERE p.organization_id = p_org
      AND p.pseq IN (SELECT q.pseq FROM audit_pending q WHERE q.organization_id = p_org ORDER BY q.pseq LIMIT p_max)
    RETURNING p.pseq, p.entry
  )
  SELECT array_agg(t.entry ORDER BY t.pseq) INTO v_entries FROM taken t;
  IF v_entries IS NULL THEN
    RETURN 0;
  END IF;
  RETURN basalt_link_audit(p_org, v_entries);
END
$fn$;
REVOKE ALL ON FUNCTION basalt_seal_audit(uuid, integer, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_seal_audit(uuid, integer, boolean) TO basalt_app_access;

-- Bulk writes (an import batch: thousands of entries in one transaction) link their entries
-- in their own transaction instead, under the head's lock until their commit: one lock wait
-- per batch is cheaper than writing every entry twice, and it holds up only sealers and
-- readers of the organization, never its interactive writers. For the session's tenant only.
CREATE FUNCTION basalt_append_audit_linked(p_org uuid, p_entries jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
BEGIN
  IF p_org IS DISTINCT FROM basalt_org() THEN
    RAISE EXCEPTION 'audit entries may only be written for the session''s organization' USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM 1 FROM audit_heads h WHERE h.organization_id = p_org FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'audit chain head missing for organization %', p_org;
  END IF;
  RETURN basalt_link_audit(p_org, ARRAY(SELECT x.e FROM jsonb_array_elements(p_entries) WITH ORDINALITY AS x(e, n) ORDER BY x.n));
END
$fn$;
REVOKE ALL ON FUNCTION basalt_append_audit_linked(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_append_audit_linked(uuid, jsonb) TO basalt_app_access;

-- Only these functions write audit_log now: the application role may read it, not insert.
REVOKE INSERT ON audit_log FROM basalt_app_access;

-- The background sealer's call: every organization with pending entries (a loose index scan
-- over the primary key), skipping those another sealer holds. Up to p_max per organization.
CREATE FUNCTION basalt_seal_audit_all(p_max integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
DECLARE
  v_org   uuid;
  v_total integer := 0;
BEGIN
  FOR v_org IN
    WITH RECURSIVE orgs(id) AS (
      (SELECT organization_id FROM audit_pending ORDER BY organization_id LIMIT 1)
      UNION ALL
      SELECT (SELECT p.organization_id FROM audit_pending p WHERE p.organization_id > o.id ORDER BY p.organization_id LIMIT 1)
      FROM orgs o WHERE o.id IS NOT NULL
    )
    SELECT id FROM orgs WHERE id IS NOT NULL
  LOOP
    -- One organization whose entries cannot be linked must not stop the others' (each in a
    -- subtransaction; the failure goes to the server log and is retried on the next round).
    BEGIN
      v_total := v_total + basalt_seal_audit(v_org, p_max, false);
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'audit entries of organization % could not be linked: %', v_org, SQLERRM;
    END;
  END LOOP;
  RETURN v_total;
END
$fn$;
REVOKE ALL ON FUNCTION basalt_seal_audit_all(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_seal_audit_all(integer) TO basalt_app_access;
