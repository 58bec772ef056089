-- Limits as durable sources (a user's max current, a site's cap on a charger or a location), what
-- each charger declared it can do with charging profiles, and what Coupler installed on it.

CREATE TABLE limit_sources (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    charger_id  TEXT REFERENCES chargers (id) ON DELETE CASCADE,
    location_id TEXT REFERENCES locations (id) ON DELETE CASCADE,
    max_current REAL NOT NULL,
    valid_from  INTEGER,
    valid_to    INTEGER,
    created_at  INTEGER NOT NULL,
    CHECK ((charger_id IS NULL) <> (location_id IS NULL))
);
CREATE INDEX limit_sources_by_charger ON limit_sources (charger_id);
CREATE INDEX limit_sources_by_location ON limit_sources (location_id);
-- A charger has one user limit: setting a new max current replaces it.
CREATE UNIQUE INDEX limit_sources_one_user_limit ON limit_sources (charger_id) WHERE kind = 'user';

CREATE TABLE charger_capabilities (
    charger_id   TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    capabilities TEXT NOT NULL,
    device_model TEXT NOT NULL DEFAULT '{}',
    updated_at   INTEGER NOT NULL
);

CREATE TABLE charger_limit_state (
    charger_id         TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    installed_profiles TEXT NOT NULL DEFAULT '[]',
    held_off           INTEGER NOT NULL DEFAULT FALSE,
    applied_at         INTEGER,
    verified_limit     REAL,
    verified_at        INTEGER,
    last_error         TEXT
);
