-- Basalt core schema: tenancy, identity, the object tables, and the write-path ledger
-- (write receipts, audit chain, outbox). Forward-only; see docs/decisions/0003-migrations.md.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The group role request traffic runs under. Login roles (created by the app, or by an
-- operator on a managed database) are granted membership; they own nothing and never
-- bypass row-level security.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'basalt_app_access') THEN
    CREATE ROLE basalt_app_access NOLOGIN NOBYPASSRLS;
  END IF;
END $$;

-- The request's tenant and record scope, set per transaction with set_config(..., true).
-- Unset => NULL => no row matches: a query that forgot its WHERE still leaks nothing.
CREATE FUNCTION basalt_org() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('basalt.org_id', true), '')::uuid $$;

CREATE FUNCTION basalt_user() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('basalt.user_id', true), '')::uuid $$;

CREATE FUNCTION basalt_team() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('basalt.team_id', true), '')::uuid $$;

CREATE TABLE schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
  id                 uuid PRIMARY KEY,
  name               text NOT NULL,
  sharing_default    text NOT NULL DEFAULT 'public_read'
                     CHECK (sharing_default IN ('private', 'public_read', 'public_read_write')),
  mfa_required_roles text[] NOT NULL DEFAULT '{}',
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  name            text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, name)
);

CREATE TABLE users (
  organization_id     uuid NOT NULL REFERENCES organizations (id),
  id                  uuid NOT NULL,
  email               text NOT NULL,
  name                text NOT NULL,
  role                text NOT NULL CHECK (role IN ('admin', 'manager', 'rep', 'agent', 'readonly')),
  team_id             uuid,
  password_hash       text,
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  mfa_secret          text,
  mfa_pending_secret  text,
  mfa_enabled         boolean NOT NULL DEFAULT false,
  mfa_recovery_hashes text[] NOT NULL DEFAULT '{}',
  mfa_last_step       bigint,
  version             integer NOT NULL DEFAULT 1,
  last_login_at       timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, team_id) REFERENCES teams (organization_id, id)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_team_idx ON users (organization_id, team_id);

CREATE TABLE refresh_tokens (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,
  user_id         uuid NOT NULL,
  family_id       uuid NOT NULL,
  token_hash      text NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  rotated_at      timestamptz,
  revoked_at      timestamptz,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (organization_id, family_id);

CREATE TABLE api_keys (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,
  name            text NOT NULL,
  role            text NOT NULL CHECK (role IN ('admin', 'manager', 'rep', 'agent', 'readonly')),
  prefix          text NOT NULL,
  key_hash        text NOT NULL UNIQUE,
  created_by      uuid NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_used_at    timestamptz,
  expires_at      timestamptz,
  revoked_at      timestamptz,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id)
);

-- Signing keys are shared by every node (stateless nodes, rotation without logouts).
CREATE TABLE signing_keys (
  kid          text PRIMARY KEY,
  alg          text NOT NULL,
  public_jwk   jsonb NOT NULL,
  private_jwk  jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  sign_until   timestamptz NOT NULL,
  verify_until timestamptz NOT NULL
);

-- Login throttling shared by all nodes.
CREATE TABLE auth_throttle (
  key          text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  attempts     integer NOT NULL
);

CREATE TABLE field_definitions (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  object          text NOT NULL,
  name            text NOT NULL,
  label           text NOT NULL,
  type            text NOT NULL,
  options         jsonb NOT NULL DEFAULT '{}',
  required        boolean NOT NULL DEFAULT false,
  searchable      boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, object, name)
);

CREATE TABLE saved_views (
  organization_id uuid NOT NULL,
  id              uuid NOT NULL,
  user_id         uuid NOT NULL,
  object          text NOT NULL,
  name            text NOT NULL,
  definition      jsonb NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id)
);

-- ---------------------------------------------------------------------------------------
-- Object tables. Columns mirror src/objects/definitions.ts (a test checks they agree).
-- Every table: tenant, owner, version, soft delete, custom fields (jsonb: per tenant),
-- per-field last-changed version (field-level merge), and a search vector.
-- ---------------------------------------------------------------------------------------

CREATE TABLE accounts (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  owner_id        uuid NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  custom          jsonb NOT NULL DEFAULT '{}',
  field_versions  jsonb NOT NULL DEFAULT '{}',
  search_vector   tsvector,
  name            text NOT NULL,
  domain          text,
  industry        text,
  employees       integer,
  annual_revenue  numeric(20, 2),
  phone           text,
  website         text,
  billing_city    text,
  billing_country text,
  external_id     text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id)
);

CREATE TABLE contacts (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  owner_id        uuid NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  custom          jsonb NOT NULL DEFAULT '{}',
  field_versions  jsonb NOT NULL DEFAULT '{}',
  search_vector   tsvector,
  first_name      text,
  last_name       text NOT NULL,
  email           text,
  phone           text,
  mobile_phone    text,
  title           text,
  department      text,
  account_id      uuid,
  external_id     text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id),
  FOREIGN KEY (organization_id, account_id) REFERENCES accounts (organization_id, id)
);

CREATE TABLE opportunities (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  owner_id        uuid NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  custom          jsonb NOT NULL DEFAULT '{}',
  field_versions  jsonb NOT NULL DEFAULT '{}',
  search_vector   tsvector,
  name            text NOT NULL,
  account_id      uuid,
  amount          numeric(20, 2),
  currency        char(3),
  stage           text NOT NULL DEFAULT 'prospecting',
  probability     integer,
  close_date      date,
  next_step       text,
  lead_source     text,
  external_id     text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id),
  FOREIGN KEY (organization_id, account_id) REFERENCES accounts (organization_id, id)
);

CREATE TABLE leads (
  organization_id          uuid NOT NULL REFERENCES organizations (id),
  id                       uuid NOT NULL,
  owner_id                 uuid NOT NULL,
  version                  integer NOT NULL DEFAULT 1,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  created_by               uuid,
  updated_by               uuid,
  deleted_at               timestamptz,
  custom                   jsonb NOT NULL DEFAULT '{}',
  field_versions           jsonb NOT NULL DEFAULT '{}',
  search_vector            tsvector,
  first_name               text,
  last_name                text NOT NULL,
  email                    text,
  phone                    text,
  title                    text,
  company                  text,
  status                   text NOT NULL DEFAULT 'new',
  source                   text,
  converted_at             timestamptz,
  converted_account_id     uuid,
  converted_contact_id     uuid,
  converted_opportunity_id uuid,
  external_id              text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id),
  FOREIGN KEY (organization_id, converted_account_id) REFERENCES accounts (organization_id, id),
  FOREIGN KEY (organization_id, converted_contact_id) REFERENCES contacts (organization_id, id),
  FOREIGN KEY (organization_id, converted_opportunity_id) REFERENCES opportunities (organization_id, id)
);

CREATE TABLE cases (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  owner_id        uuid NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  custom          jsonb NOT NULL DEFAULT '{}',
  field_versions  jsonb NOT NULL DEFAULT '{}',
  search_vector   tsvector,
  subject         text NOT NULL,
  description     text,
  status          text NOT NULL DEFAULT 'new',
  priority        text NOT NULL DEFAULT 'medium',
  origin          text,
  account_id      uuid,
  contact_id      uuid,
  closed_at       timestamptz,
  external_id     text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id),
  FOREIGN KEY (organization_id, account_id) REFERENCES accounts (organization_id, id),
  FOREIGN KEY (organization_id, contact_id) REFERENCES contacts (organization_id, id)
);

CREATE TABLE activities (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  owner_id        uuid NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  created_by      uuid,
  updated_by      uuid,
  deleted_at      timestamptz,
  custom          jsonb NOT NULL DEFAULT '{}',
  field_versions  jsonb NOT NULL DEFAULT '{}',
  search_vector   tsvector,
  type            text NOT NULL DEFAULT 'task',
  subject         text NOT NULL,
  body            text,
  due_at          timestamptz,
  completed_at    timestamptz,
  related_object  text,
  related_id      uuid,
  external_id     text,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, owner_id) REFERENCES users (organization_id, id)
);

-- Default sort (newest first), owner filter, keyset tie-break on id.
CREATE INDEX accounts_created_idx ON accounts (organization_id, created_at, id);
CREATE INDEX accounts_updated_idx ON accounts (organization_id, updated_at, id);
CREATE INDEX accounts_owner_idx ON accounts (organization_id, owner_id, created_at, id);
CREATE INDEX accounts_name_idx ON accounts (organization_id, name, id);
CREATE INDEX accounts_domain_idx ON accounts (organization_id, lower(domain));
CREATE INDEX accounts_external_idx ON accounts (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX accounts_search_idx ON accounts USING gin (search_vector);
CREATE INDEX accounts_name_trgm_idx ON accounts USING gin (name gin_trgm_ops);

CREATE INDEX contacts_created_idx ON contacts (organization_id, created_at, id);
CREATE INDEX contacts_updated_idx ON contacts (organization_id, updated_at, id);
CREATE INDEX contacts_owner_idx ON contacts (organization_id, owner_id, created_at, id);
CREATE INDEX contacts_last_name_idx ON contacts (organization_id, last_name, id);
CREATE INDEX contacts_email_idx ON contacts (organization_id, lower(email));
CREATE INDEX contacts_account_idx ON contacts (organization_id, account_id);
CREATE INDEX contacts_external_idx ON contacts (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX contacts_search_idx ON contacts USING gin (search_vector);
CREATE INDEX contacts_name_trgm_idx ON contacts USING gin ((coalesce(first_name, '') || ' ' || last_name) gin_trgm_ops);
CREATE INDEX contacts_email_trgm_idx ON contacts USING gin (email gin_trgm_ops);

CREATE INDEX opportunities_created_idx ON opportunities (organization_id, created_at, id);
CREATE INDEX opportunities_updated_idx ON opportunities (organization_id, updated_at, id);
CREATE INDEX opportunities_owner_idx ON opportunities (organization_id, owner_id, created_at, id);
CREATE INDEX opportunities_stage_idx ON opportunities (organization_id, stage, close_date);
CREATE INDEX opportunities_amount_idx ON opportunities (organization_id, amount, id);
CREATE INDEX opportunities_close_idx ON opportunities (organization_id, close_date, id);
CREATE INDEX opportunities_account_idx ON opportunities (organization_id, account_id);
CREATE INDEX opportunities_external_idx ON opportunities (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX opportunities_search_idx ON opportunities USING gin (search_vector);
CREATE INDEX opportunities_name_trgm_idx ON opportunities USING gin (name gin_trgm_ops);

CREATE INDEX leads_created_idx ON leads (organization_id, created_at, id);
CREATE INDEX leads_updated_idx ON leads (organization_id, updated_at, id);
CREATE INDEX leads_owner_idx ON leads (organization_id, owner_id, created_at, id);
CREATE INDEX leads_status_idx ON leads (organization_id, status, created_at, id);
CREATE INDEX leads_email_idx ON leads (organization_id, lower(email));
CREATE INDEX leads_external_idx ON leads (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX leads_search_idx ON leads USING gin (search_vector);
CREATE INDEX leads_name_trgm_idx ON leads USING gin ((coalesce(first_name, '') || ' ' || last_name) gin_trgm_ops);
CREATE INDEX leads_email_trgm_idx ON leads USING gin (email gin_trgm_ops);

CREATE INDEX cases_created_idx ON cases (organization_id, created_at, id);
CREATE INDEX cases_updated_idx ON cases (organization_id, updated_at, id);
CREATE INDEX cases_owner_idx ON cases (organization_id, owner_id, created_at, id);
CREATE INDEX cases_status_idx ON cases (organization_id, status, priority, created_at, id);
CREATE INDEX cases_account_idx ON cases (organization_id, account_id);
CREATE INDEX cases_contact_idx ON cases (organization_id, contact_id);
CREATE INDEX cases_external_idx ON cases (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX cases_search_idx ON cases USING gin (search_vector);
CREATE INDEX cases_subject_trgm_idx ON cases USING gin (subject gin_trgm_ops);

CREATE INDEX activities_created_idx ON activities (organization_id, created_at, id);
CREATE INDEX activities_updated_idx ON activities (organization_id, updated_at, id);
CREATE INDEX activities_owner_idx ON activities (organization_id, owner_id, created_at, id);
CREATE INDEX activities_related_idx ON activities (organization_id, related_id, created_at);
CREATE INDEX activities_due_idx ON activities (organization_id, due_at, id);
CREATE INDEX activities_external_idx ON activities (organization_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX activities_search_idx ON activities USING gin (search_vector);
CREATE INDEX activities_subject_trgm_idx ON activities USING gin (subject gin_trgm_ops);

-- ---------------------------------------------------------------------------------------
-- The write-path ledger.
-- ---------------------------------------------------------------------------------------

-- One row per committed write: the client's Idempotency-Key, or a server key when the
-- client sent none, so a COMMIT whose answer was lost can be recognised on retry.
CREATE TABLE write_receipts (
  organization_id uuid NOT NULL,
  caller_id       uuid NOT NULL,
  key             text NOT NULL,
  request_hash    text NOT NULL,
  request_id      text NOT NULL,
  status_code     integer NOT NULL,
  response_body   jsonb,
  response_headers jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (organization_id, caller_id, key)
);
CREATE INDEX write_receipts_expiry_idx ON write_receipts (expires_at);

-- Append-only, hash-chained per organization (src/audit/chain.ts documents the format).
CREATE TABLE audit_log (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  seq             bigint NOT NULL,
  id              uuid NOT NULL,
  at              timestamptz NOT NULL,
  actor_id        uuid,
  actor_type      text NOT NULL,
  request_id      text NOT NULL,
  object          text NOT NULL,
  record_id       uuid NOT NULL,
  action          text NOT NULL,
  changes         jsonb NOT NULL,
  context         jsonb NOT NULL DEFAULT '{}',
  prev_hash       text NOT NULL,
  hash            text NOT NULL,
  PRIMARY KEY (organization_id, seq)
);
CREATE INDEX audit_log_record_idx ON audit_log (organization_id, record_id, seq);
CREATE INDEX audit_log_at_idx ON audit_log (organization_id, at);

CREATE TABLE audit_heads (
  organization_id uuid PRIMARY KEY REFERENCES organizations (id),
  seq             bigint NOT NULL,
  head_hash       text NOT NULL
);

CREATE FUNCTION basalt_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION basalt_audit_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION basalt_audit_immutable();

CREATE TABLE outbox (
  seq             bigserial PRIMARY KEY,
  id              uuid NOT NULL UNIQUE,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  type            text NOT NULL,
  object          text NOT NULL,
  record_id       uuid NOT NULL,
  payload         jsonb NOT NULL,
  request_id      text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_org_idx ON outbox (organization_id, seq);

-- ---------------------------------------------------------------------------------------
-- Row-level security on every tenant table. Not FORCEd: the owner (the migrating role)
-- runs the narrow SECURITY DEFINER functions below; request traffic never owns a table.
-- ---------------------------------------------------------------------------------------
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON organizations USING (id = basalt_org()) WITH CHECK (id = basalt_org());

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['teams', 'users', 'refresh_tokens', 'api_keys', 'field_definitions',
                           'saved_views', 'write_receipts', 'audit_log', 'audit_heads', 'outbox'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org())', t);
  END LOOP;
  -- Records: the tenant, then the caller's read / write scope (owner, team, sharing).
  FOREACH t IN ARRAY ARRAY['accounts', 'contacts', 'opportunities', 'leads', 'cases', 'activities'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    -- Written out (not wrapped in functions) so the planner inlines them into every query;
    -- the sharing default is read once per statement (an InitPlan), so a change of the
    -- organization's setting applies to the very next request.
    EXECUTE format($p$CREATE POLICY tenant_read ON %I FOR SELECT USING (
      organization_id = basalt_org() AND (
        current_setting('basalt.read_all', true) = 'on'
        OR owner_id = basalt_user()
        OR (SELECT o.sharing_default <> 'private' FROM organizations o WHERE o.id = basalt_org())
        OR (current_setting('basalt.team_scope', true) = 'on' AND owner_id IN (
              SELECT u.id FROM users u WHERE u.organization_id = basalt_org() AND u.team_id = basalt_team()))))$p$, t);
    -- A new owner may be anyone in the tenant (transfer of ownership is an application rule).
    EXECUTE format($p$CREATE POLICY tenant_insert ON %I FOR INSERT WITH CHECK (organization_id = basalt_org())$p$, t);
    EXECUTE format($p$CREATE POLICY tenant_update ON %I FOR UPDATE USING (
      organization_id = basalt_org() AND (
        current_setting('basalt.write_all', true) = 'on'
        OR owner_id = basalt_user()
        OR (SELECT o.sharing_default = 'public_read_write' FROM organizations o WHERE o.id = basalt_org())
        OR (current_setting('basalt.team_scope', true) = 'on' AND owner_id IN (
              SELECT u.id FROM users u WHERE u.organization_id = basalt_org() AND u.team_id = basalt_team()))))
      WITH CHECK (organization_id = basalt_org())$p$, t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO basalt_app_access', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON organizations, teams, users, field_definitions, audit_heads TO basalt_app_access;
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens, api_keys, saved_views, write_receipts,
  signing_keys, auth_throttle TO basalt_app_access;
GRANT SELECT, INSERT ON audit_log TO basalt_app_access;
GRANT SELECT, INSERT, UPDATE ON outbox TO basalt_app_access;
GRANT USAGE ON SEQUENCE outbox_seq_seq TO basalt_app_access;
GRANT SELECT ON schema_migrations TO basalt_app_access;

-- Sign-in happens before the tenant is known: these definer functions answer exactly one
-- narrow question each, and nothing else crosses the tenant boundary.
CREATE FUNCTION basalt_find_login(p_email text)
RETURNS TABLE (organization_id uuid, id uuid, password_hash text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT organization_id, id, password_hash, status FROM users WHERE lower(email) = lower(p_email) $$;

CREATE FUNCTION basalt_find_api_key(p_key_hash text)
RETURNS TABLE (organization_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT organization_id, id FROM api_keys WHERE key_hash = p_key_hash $$;

CREATE FUNCTION basalt_find_refresh_token(p_token_hash text)
RETURNS TABLE (organization_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT organization_id, id FROM refresh_tokens WHERE token_hash = p_token_hash $$;

REVOKE ALL ON FUNCTION basalt_find_login(text), basalt_find_api_key(text), basalt_find_refresh_token(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_find_login(text), basalt_find_api_key(text), basalt_find_refresh_token(text) TO basalt_app_access;

-- Expired write receipts of every tenant, in batches (called by the maintenance job).
CREATE FUNCTION basalt_purge_write_receipts(p_batch integer)
RETURNS integer LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ WITH gone AS (
     DELETE FROM write_receipts WHERE ctid IN (
       SELECT ctid FROM write_receipts WHERE expires_at < now() LIMIT p_batch)
     RETURNING 1)
   SELECT count(*)::integer FROM gone $$;
REVOKE ALL ON FUNCTION basalt_purge_write_receipts(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_purge_write_receipts(integer) TO basalt_app_access;
