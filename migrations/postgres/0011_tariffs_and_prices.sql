-- Smart charging's prices: each location's price area and provider, its time-of-use tariff, series
-- of prices and carbon intensity (pushed by clients per location or per price area, or fetched from
-- day-ahead providers), the pushes clients made (for Idempotency-Key retries), and how fetching
-- each provider's prices has gone.

ALTER TABLE locations ADD COLUMN price_area TEXT;
ALTER TABLE locations ADD COLUMN price_provider TEXT;
CREATE INDEX locations_by_price_area ON locations (price_area) WHERE price_area IS NOT NULL;

-- The tariff as the client wrote it (JSON), checked before it was stored.
CREATE TABLE location_tariffs (
    location_id TEXT PRIMARY KEY REFERENCES locations (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    tariff      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- One row per series (its owner and kind). A write locks the row first, so two writes to one
-- series take turns. `series_key` names the owner: 'location:<id>', 'area:<area>:<client>' or
-- 'provider:<name>:<area>'; the owner's rows, where it has them, delete its series with them.
CREATE TABLE price_series (
    series_key  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    client_id   TEXT REFERENCES clients (id) ON DELETE CASCADE,
    location_id TEXT REFERENCES locations (id) ON DELETE CASCADE,
    area        TEXT,
    provider    TEXT,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (series_key, kind)
);

CREATE TABLE price_series_slots (
    series_key TEXT NOT NULL,
    kind       TEXT NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series_key, kind, starts_at),
    FOREIGN KEY (series_key, kind) REFERENCES price_series (series_key, kind) ON DELETE CASCADE
);

CREATE TABLE price_pushes (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    location_id     TEXT,
    area            TEXT,
    kind            TEXT NOT NULL,
    slot_count      BIGINT NOT NULL,
    slot_minutes    BIGINT NOT NULL,
    starts_at       TIMESTAMPTZ NOT NULL,
    ends_at         TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK ((location_id IS NULL) <> (area IS NULL))
);
CREATE UNIQUE INDEX price_pushes_by_idempotency_key ON price_pushes (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX price_pushes_by_age ON price_pushes (client_id, created_at);

CREATE TABLE price_provider_status (
    provider        TEXT NOT NULL,
    area            TEXT NOT NULL,
    last_attempt_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_error_at   TIMESTAMPTZ,
    last_error      TEXT,
    -- Whether the last attempt failed (the prices stored before are still in force).
    failing         BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (provider, area)
);
