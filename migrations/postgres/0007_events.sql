-- Events (a durable outbox), webhooks and their deliveries.
--
-- An event row is written in the same transaction as the state change that caused it. `id` orders
-- rows by insertion; `seq` is the public, gap-free-in-visibility sequence the relay assigns when it
-- renders the event (`data`), so a reader that has seen `seq` N never later finds an N' < N.
-- No foreign keys: an event outlives the asset and the user it speaks of.

CREATE TABLE events (
    id             BIGSERIAL PRIMARY KEY,
    seq            BIGINT UNIQUE,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    asset_id       TEXT NOT NULL,
    updated_fields TEXT NOT NULL,
    data           TEXT,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_unpublished ON events (id) WHERE seq IS NULL;
CREATE INDEX events_by_client ON events (client_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX events_by_asset ON events (asset_id, seq) WHERE seq IS NOT NULL;

CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    secret_sealed    TEXT NOT NULL,
    events           TEXT NOT NULL,
    is_active        BOOLEAN NOT NULL,
    -- The last event seq this webhook has been given (delivered, filtered out, or given up on).
    cursor_seq       BIGINT NOT NULL,
    failure_count    BIGINT NOT NULL DEFAULT 0,
    last_success     TIMESTAMPTZ,
    lease_until      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_by_client_newest ON webhooks (client_id, created_at DESC, id DESC);

-- One batch of events for one webhook. Its id is the delivery id receivers deduplicate on: every
-- retry of the batch sends the same id and the same events.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    first_seq        BIGINT NOT NULL,
    last_seq         BIGINT NOT NULL,
    event_count      BIGINT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    last_status      BIGINT,
    last_error       TEXT,
    last_duration_ms BIGINT,
    next_attempt_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook_newest ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id) WHERE state = 'PENDING';
