-- Saved list views become an API resource (GET/POST/PATCH/DELETE /api/v1/views).
-- A view is personal: row-level security narrows the tenant policy to the owner, so a
-- query that forgot `user_id = ...` still cannot read or change someone else's view.
-- `version` gives views the same If-Match / ETag concurrency as records.
ALTER TABLE saved_views
  ADD COLUMN version    integer NOT NULL DEFAULT 1,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD CONSTRAINT saved_views_name_length CHECK (length(name) BETWEEN 1 AND 100),
  ADD CONSTRAINT saved_views_definition_object CHECK (jsonb_typeof(definition) = 'object');

-- One name per user and object (case-insensitive), and the index behind "my views of X".
CREATE UNIQUE INDEX saved_views_owner_name_key ON saved_views (organization_id, user_id, object, lower(name));

DROP POLICY tenant ON saved_views;
CREATE POLICY owner ON saved_views
  USING (organization_id = basalt_org() AND user_id = basalt_user())
  WITH CHECK (organization_id = basalt_org() AND user_id = basalt_user());
