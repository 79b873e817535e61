-- Bulk import jobs (issue 6), their capped per-row errors, and the indexes that bulk
-- upserts and the pipeline report lean on. Forward-only; see docs/decisions/0007-bulk-import.md.

CREATE TABLE imports (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  object          text NOT NULL,
  mode            text NOT NULL CHECK (mode IN ('insert', 'upsert')),
  upsert_key      text,
  mapping         jsonb NOT NULL,
  status          text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  created_by      uuid NOT NULL,
  -- Idempotency: the caller (user or API key) and its key; the same key resumes or replays the job.
  caller_id       uuid NOT NULL,
  idempotency_key text,
  request_hash    text NOT NULL,
  file_sha256     text,
  rows_read       bigint NOT NULL DEFAULT 0,
  rows_inserted   bigint NOT NULL DEFAULT 0,
  rows_updated    bigint NOT NULL DEFAULT 0,
  rows_unchanged  bigint NOT NULL DEFAULT 0,
  rows_rejected   bigint NOT NULL DEFAULT 0,
  batches         integer NOT NULL DEFAULT 0,
  failure         text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- Heartbeat: a running job whose heartbeat is old lost its node and may be resumed.
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  PRIMARY KEY (organization_id, id)
);
CREATE UNIQUE INDEX imports_idempotency_key ON imports (organization_id, caller_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX imports_created_idx ON imports (organization_id, created_at DESC, id);

-- Only the first errors are kept (rows_rejected counts them all).
CREATE TABLE import_errors (
  organization_id uuid NOT NULL,
  import_id       uuid NOT NULL,
  row_number      bigint NOT NULL,
  line            bigint NOT NULL,
  field           text,
  message         text NOT NULL,
  FOREIGN KEY (organization_id, import_id) REFERENCES imports (organization_id, id)
);
CREATE INDEX import_errors_import_idx ON import_errors (organization_id, import_id, row_number);

ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON imports USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org());
ALTER TABLE import_errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON import_errors USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org());
GRANT SELECT, INSERT, UPDATE ON imports TO basalt_app_access;
GRANT SELECT, INSERT ON import_errors TO basalt_app_access;

-- Upsert keys are matched among live records through the existing lower(email),
-- lower(domain) and external_id indexes. No UNIQUE index: the API has never promised
-- uniqueness of these fields, so an ambiguous key is reported per row instead (ADR 0007).

-- Pipeline report (sum of amount by stage): an index-only scan instead of reading the table
-- (owner_id is there for the row-level security policy, which reads it).
CREATE INDEX opportunities_pipeline_idx ON opportunities (organization_id, stage, currency) INCLUDE (amount, owner_id)
  WHERE deleted_at IS NULL;
