-- Resilience experiment history: one row per chaos experiment run (the chaos suite stores
-- its results here through POST /api/v1/resilience/experiments, the UI reads the pass/fail
-- history with GET). Per organization, under the same tenant RLS as every business table.
-- Append-only for the application role: a recorded result is evidence, never edited.
CREATE TABLE resilience_experiments (
  id              uuid PRIMARY KEY,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  run_id          text NOT NULL CHECK (length(run_id) BETWEEN 1 AND 100),
  experiment      text NOT NULL CHECK (experiment ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  hypothesis      text NOT NULL DEFAULT '',
  passed          boolean NOT NULL,
  started_at      timestamptz NOT NULL,
  finished_at     timestamptz NOT NULL CHECK (finished_at >= started_at),
  metrics         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metrics) = 'object'),
  details         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(details) = 'object'),
  environment     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(environment) = 'object'),
  created_by      uuid,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resilience_experiments_history_idx ON resilience_experiments (organization_id, started_at DESC, id DESC);
CREATE INDEX resilience_experiments_name_idx ON resilience_experiments (organization_id, experiment, started_at DESC);

ALTER TABLE resilience_experiments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON resilience_experiments
  USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org());
GRANT SELECT, INSERT ON resilience_experiments TO basalt_app_access;
