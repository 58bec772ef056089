-- Vehicles reached through their makers' clouds: linked vendor accounts (with their OAuth tokens,
-- encrypted), the vehicles found on them, the link sessions of the hosted link page, and the
-- interventions users must resolve. Everything hangs off a user, so deleting the user removes it.
-- Times are microseconds since the Unix epoch; JSON documents are text.

CREATE TABLE vendor_accounts (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vendor              TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    -- Ciphertext (core::secret::Cipher); never a token in clear.
    access_token        TEXT NOT NULL,
    refresh_token       TEXT,
    expires_at          INTEGER,
    token_version       INTEGER NOT NULL,
    refresh_lease_until INTEGER,
    meta                TEXT NOT NULL,
    is_valid            BOOLEAN NOT NULL,
    intervention_id     TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (user_id, vendor)
);
CREATE INDEX vendor_accounts_by_expiry ON vendor_accounts (expires_at) WHERE is_valid;

CREATE TABLE vehicles (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id         TEXT NOT NULL REFERENCES vendor_accounts (id) ON DELETE CASCADE,
    vendor             TEXT NOT NULL,
    vendor_vehicle_id  TEXT NOT NULL,
    information        TEXT NOT NULL,
    charge_state       TEXT NOT NULL,
    location           TEXT NOT NULL,
    model_capabilities TEXT NOT NULL,
    vendor_meta        TEXT NOT NULL,
    last_seen          INTEGER,
    is_reachable       BOOLEAN,
    next_poll_at       INTEGER NOT NULL,
    not_before         INTEGER,
    poll_requested     BOOLEAN NOT NULL,
    poll_failures      INTEGER NOT NULL,
    polls_on_day       INTEGER NOT NULL,
    budget_day         INTEGER NOT NULL,
    last_poll_error    TEXT,
    poll_lease_until   INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (account_id, vendor_vehicle_id)
);
CREATE INDEX vehicles_by_client_newest ON vehicles (client_id, created_at DESC, id DESC);
CREATE INDEX vehicles_by_user_newest ON vehicles (user_id, created_at DESC, id DESC);
CREATE INDEX vehicles_by_due ON vehicles (next_poll_at);

CREATE TABLE link_sessions (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    vendor        TEXT,
    scopes        TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    language      TEXT NOT NULL,
    status        TEXT NOT NULL,
    chosen_vendor TEXT,
    state_hash    TEXT UNIQUE,
    pkce_verifier TEXT,
    error         TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

CREATE TABLE interventions (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES vendor_accounts (id) ON DELETE CASCADE,
    vendor      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX interventions_by_client_newest ON interventions (client_id, created_at DESC, id DESC);
CREATE INDEX interventions_by_account ON interventions (account_id);
