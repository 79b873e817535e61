-- Metadata version per organization (docs/decisions/0010-metadata-version-cache.md).
--
-- Every change to an organization's custom fields bumps organizations.metadata_version in
-- the same transaction, by trigger, so no code path (API, import, operator SQL) can change
-- field_definitions without it. Each tenant transaction reads the version in the round
-- trip that opens it; a node caches resolved custom fields per (organization, version) and
-- reloads when the version it sees differs. Nodes share nothing: the version in the
-- database decides what every request sees.
ALTER TABLE organizations ADD COLUMN metadata_version bigint NOT NULL DEFAULT 0;

-- The new version is max(old + 1, now in microseconds): strictly increasing per
-- organization, and never a value handed out before, even after a restore or a failover
-- that lost the last transactions (a plain counter could reach the same number again with
-- different fields, and a node would keep serving its cached copy).
CREATE FUNCTION basalt_next_metadata_version(v bigint) RETURNS bigint LANGUAGE sql VOLATILE AS
$$ SELECT greatest(v + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint) $$;

-- Definer: the bump must not depend on the caller's row-level security settings (operator
-- SQL without basalt.org_id, bootstrap). It touches only the changed rows' organizations.
CREATE FUNCTION basalt_bump_metadata_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS
$fn$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE organizations SET metadata_version = basalt_next_metadata_version(metadata_version);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE organizations SET metadata_version = basalt_next_metadata_version(metadata_version) WHERE id = OLD.organization_id;
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.organization_id IS DISTINCT FROM OLD.organization_id) THEN
    UPDATE organizations SET metadata_version = basalt_next_metadata_version(metadata_version) WHERE id = NEW.organization_id;
  END IF;
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION basalt_bump_metadata_version() FROM PUBLIC;

CREATE TRIGGER field_definitions_metadata_version
  AFTER INSERT OR UPDATE OR DELETE ON field_definitions
  FOR EACH ROW EXECUTE FUNCTION basalt_bump_metadata_version();

CREATE TRIGGER field_definitions_metadata_version_truncate
  AFTER TRUNCATE ON field_definitions
  FOR EACH STATEMENT EXECUTE FUNCTION basalt_bump_metadata_version();
