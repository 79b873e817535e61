-- Event stream: the outbox relay (claim / mark across tenants) and webhooks (subscriptions,
-- deliveries as PostgreSQL jobs, attempts log). Forward-only; see
-- docs/decisions/0006-outbox-relay.md.

-- ---------------------------------------------------------------------------------------
-- Outbox relay
-- ---------------------------------------------------------------------------------------

-- "Is there an earlier unpublished event of this record?" — asked for every claimed event.
CREATE INDEX outbox_record_unpublished_idx ON outbox (record_id, seq) WHERE published_at IS NULL;

-- Time-ordered ids (UUID v7) made in SQL: PostgreSQL 15 has no uuidv7().
CREATE FUNCTION basalt_event_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS
$$ SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
     PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
     FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid $$;

-- Claims up to p_limit unpublished events of every tenant, oldest first, locking them until
-- the caller's transaction ends (a relay that dies releases them with its connection).
-- Rows locked by another relay are skipped, and so is any event whose record has an earlier
-- unpublished event outside this claim: per record, events leave in commit order.
CREATE FUNCTION basalt_outbox_claim(p_limit integer)
RETURNS TABLE (seq bigint, id uuid, organization_id uuid, type text, object text, record_id uuid,
               payload jsonb, request_id text, created_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ WITH claimed AS MATERIALIZED (
     SELECT o.seq, o.id, o.organization_id, o.type, o.object, o.record_id, o.payload, o.request_id, o.created_at
     FROM outbox o
     WHERE o.published_at IS NULL
     ORDER BY o.seq
     LIMIT p_limit
     FOR UPDATE SKIP LOCKED)
   SELECT c.* FROM claimed c
   WHERE NOT EXISTS (
     SELECT 1 FROM outbox p
     WHERE p.record_id = c.record_id AND p.published_at IS NULL AND p.seq < c.seq
       AND p.seq NOT IN (SELECT c2.seq FROM claimed c2))
   ORDER BY c.seq $$;

CREATE FUNCTION basalt_outbox_mark_published(p_seqs bigint[])
RETURNS integer LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ WITH done AS (
     UPDATE outbox SET published_at = now() WHERE seq = ANY (p_seqs) AND published_at IS NULL RETURNING 1)
   SELECT count(*)::integer FROM done $$;

-- How far behind the relay is (for /metrics and tests): unpublished events of every tenant.
CREATE FUNCTION basalt_outbox_backlog()
RETURNS TABLE (events bigint, oldest timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL $$;

-- ---------------------------------------------------------------------------------------
-- Webhooks
-- ---------------------------------------------------------------------------------------

CREATE TABLE webhook_subscriptions (
  organization_id uuid NOT NULL REFERENCES organizations (id),
  id              uuid NOT NULL,
  url             text NOT NULL,
  events          text[] NOT NULL,
  -- HMAC key: must be usable to sign, so it cannot be stored hashed.
  secret          text NOT NULL,
  description     text,
  created_by      uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  deleted_at      timestamptz,
  PRIMARY KEY (organization_id, id)
);
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (organization_id) WHERE deleted_at IS NULL;

-- One job per (event, subscription). status: pending (waiting, leased or scheduled for a
-- retry), succeeded, dead (retries exhausted; replay makes it pending again).
CREATE TABLE webhook_deliveries (
  organization_id      uuid NOT NULL,
  id                   uuid NOT NULL,
  subscription_id      uuid NOT NULL,
  event_id             uuid NOT NULL,
  event_seq            bigint NOT NULL,
  event_type           text NOT NULL,
  record_id            uuid NOT NULL,
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'dead')),
  attempts             integer NOT NULL DEFAULT 0,
  round_attempts       integer NOT NULL DEFAULT 0,
  next_attempt_at      timestamptz NOT NULL DEFAULT now(),
  lease_until          timestamptz,
  last_response_status integer,
  last_error           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  delivered_at         timestamptz,
  dead_at              timestamptz,
  PRIMARY KEY (organization_id, id),
  UNIQUE (subscription_id, event_id),
  FOREIGN KEY (organization_id, subscription_id) REFERENCES webhook_subscriptions (organization_id, id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, event_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (subscription_id, record_id, event_seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (organization_id, subscription_id, event_seq DESC);

CREATE TABLE webhook_attempts (
  organization_id uuid NOT NULL,
  delivery_id     uuid NOT NULL,
  attempt         integer NOT NULL,
  started_at      timestamptz NOT NULL,
  duration_ms     integer NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
  response_status integer,
  error           text,
  next_attempt_at timestamptz,
  PRIMARY KEY (organization_id, delivery_id, attempt),
  FOREIGN KEY (organization_id, delivery_id) REFERENCES webhook_deliveries (organization_id, id)
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_subscriptions', 'webhook_deliveries', 'webhook_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (organization_id = basalt_org()) WITH CHECK (organization_id = basalt_org())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO basalt_app_access', t);
  END LOOP;
END $$;

-- Called by the relay in the transaction that marks the events published: one delivery per
-- (event, matching live subscription), idempotent, so a re-claimed event adds none twice.
CREATE FUNCTION basalt_webhooks_enqueue(p_seqs bigint[])
RETURNS integer LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ WITH ins AS (
     INSERT INTO webhook_deliveries (organization_id, id, subscription_id, event_id, event_seq, event_type, record_id)
     SELECT o.organization_id, basalt_event_uuid_v7(), s.id, o.id, o.seq, o.type, o.record_id
     FROM outbox o
     JOIN webhook_subscriptions s
       ON s.organization_id = o.organization_id AND s.deleted_at IS NULL
      AND (o.type = ANY (s.events) OR '*' = ANY (s.events))
     WHERE o.seq = ANY (p_seqs)
     ORDER BY o.seq
     ON CONFLICT (subscription_id, event_id) DO NOTHING
     RETURNING 1)
   SELECT count(*)::integer FROM ins $$;

-- Leases up to p_limit due deliveries of every tenant for p_lease_ms. A delivery waits while
-- an earlier event of the same record is still pending for the same subscription (order per
-- record); subscriptions in p_exclude (open circuit, endpoint at its concurrency cap) are
-- left alone. An expired lease (a worker died mid-send) makes the delivery due again.
CREATE FUNCTION basalt_webhooks_claim(p_limit integer, p_lease_ms integer, p_exclude uuid[])
RETURNS TABLE (organization_id uuid, id uuid, subscription_id uuid, url text, secret text, attempt integer,
               round_attempt integer, event_id uuid, event_type text, object text, record_id uuid,
               payload jsonb, request_id text, created_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ WITH picked AS (
     SELECT d.organization_id, d.id FROM webhook_deliveries d
     JOIN webhook_subscriptions s
       ON s.organization_id = d.organization_id AND s.id = d.subscription_id AND s.deleted_at IS NULL
     WHERE d.status = 'pending' AND d.next_attempt_at <= now()
       AND (d.lease_until IS NULL OR d.lease_until < now())
       AND d.subscription_id <> ALL (p_exclude)
       AND NOT EXISTS (
         SELECT 1 FROM webhook_deliveries p
         WHERE p.subscription_id = d.subscription_id AND p.record_id = d.record_id
           AND p.status = 'pending' AND p.event_seq < d.event_seq)
     ORDER BY d.next_attempt_at, d.event_seq
     LIMIT p_limit
     FOR UPDATE OF d SKIP LOCKED),
   leased AS (
     UPDATE webhook_deliveries d SET lease_until = now() + p_lease_ms * interval '1 millisecond'
     FROM picked WHERE d.organization_id = picked.organization_id AND d.id = picked.id
     RETURNING d.*)
   SELECT l.organization_id, l.id, l.subscription_id, s.url, s.secret, l.attempts + 1, l.round_attempts + 1,
          o.id, o.type, o.object, o.record_id, o.payload, o.request_id, o.created_at
   FROM leased l
   JOIN webhook_subscriptions s ON s.organization_id = l.organization_id AND s.id = l.subscription_id
   JOIN outbox o ON o.id = l.event_id
   ORDER BY l.event_seq $$;

REVOKE ALL ON FUNCTION basalt_outbox_claim(integer), basalt_outbox_mark_published(bigint[]), basalt_outbox_backlog(),
  basalt_webhooks_enqueue(bigint[]), basalt_webhooks_claim(integer, integer, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION basalt_outbox_claim(integer), basalt_outbox_mark_published(bigint[]), basalt_outbox_backlog(),
  basalt_webhooks_enqueue(bigint[]), basalt_webhooks_claim(integer, integer, uuid[]) TO basalt_app_access;
