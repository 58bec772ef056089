-- OCPP chargers, their connectors, sessions (transactions) and meter readings.

CREATE TABLE chargers (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The identity in the OCPP URL: global, because the URL names no tenant.
    ocpp_id          TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    name             TEXT,
    location_id      TEXT,
    ocpp_version     TEXT,
    vendor           TEXT,
    model            TEXT,
    serial_number    TEXT,
    firmware_version TEXT,
    firmware_status  TEXT,
    is_connected     INTEGER NOT NULL DEFAULT FALSE,
    last_seen        INTEGER,
    power_w          REAL,
    current_a        REAL,
    energy_wh        REAL,
    soc              REAL,
    meter_at         INTEGER,
    max_current      REAL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX chargers_by_client_newest ON chargers (client_id, created_at DESC, id DESC);
CREATE INDEX chargers_by_user_newest ON chargers (user_id, created_at DESC, id DESC);

CREATE TABLE connectors (
    charger_id           TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id         INTEGER NOT NULL,
    status               TEXT NOT NULL,
    error_code           TEXT NOT NULL,
    info                 TEXT,
    power_delivery_state TEXT NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

-- The transaction id is Coupler's to allocate (OCPP 1.6) and must never repeat.
CREATE TABLE charge_sessions (
    transaction_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id      TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id    INTEGER NOT NULL,
    id_tag          TEXT,
    meter_start_wh  REAL NOT NULL,
    meter_last_wh   REAL NOT NULL,
    meter_stop_wh   REAL,
    started_at      INTEGER NOT NULL,
    stopped_at      INTEGER,
    stop_reason     TEXT
);
CREATE INDEX charge_sessions_by_charger_newest ON charge_sessions (charger_id, started_at DESC, transaction_id DESC);
CREATE INDEX charge_sessions_active ON charge_sessions (charger_id) WHERE stopped_at IS NULL;

-- Every reading kept, per session, at whatever resolution the charger sends (smart charging and
-- flexibility baselines need 15-minute or finer data).
CREATE TABLE meter_samples (
    charger_id     TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    connector_id   INTEGER NOT NULL,
    transaction_id BIGINT,
    sampled_at     INTEGER NOT NULL,
    measurand      TEXT NOT NULL,
    phase          TEXT,
    unit           TEXT NOT NULL,
    value          REAL NOT NULL,
    context        TEXT
);
CREATE INDEX meter_samples_by_charger ON meter_samples (charger_id, sampled_at);
CREATE INDEX meter_samples_by_session ON meter_samples (transaction_id, sampled_at);

-- Id tags a charger presented: RFID cards, and "VID:<mac>" vehicle identities for pairing.
CREATE TABLE charger_id_tags (
    charger_id TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    id_tag     TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (charger_id, id_tag)
);
