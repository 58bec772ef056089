-- Locations, EV systems (vehicle and charger pairs) and each charger's vehicle detection.

CREATE TABLE locations (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    latitude      REAL NOT NULL,
    longitude     REAL NOT NULL,
    timezone_name TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX locations_by_user_newest ON locations (user_id, created_at DESC, id DESC);

-- Until now a charger's location id was stored as given; only real locations count from here on.
UPDATE chargers SET location_id = NULL WHERE location_id IS NOT NULL;

-- Identifiers a charger may report for a vehicle, and the vehicle's plug transitions as polled.
ALTER TABLE vehicles ADD COLUMN id_tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE vehicles ADD COLUMN plugged_in_seen_at INTEGER;
ALTER TABLE vehicles ADD COLUMN unplugged_seen_at INTEGER;

CREATE TABLE ev_systems (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vehicle_id     TEXT NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    charger_id     TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    activated      INTEGER NOT NULL DEFAULT FALSE,
    evidence       TEXT NOT NULL DEFAULT '[]',
    confidence     TEXT,
    activated_at   INTEGER,
    deactivated_at INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (vehicle_id, charger_id)
);
CREATE INDEX ev_systems_by_user_newest ON ev_systems (user_id, created_at DESC, id DESC);
CREATE INDEX ev_systems_by_charger ON ev_systems (charger_id);
-- A vehicle is in one charger at a time, and a charger holds one vehicle.
CREATE UNIQUE INDEX ev_systems_one_active_per_vehicle ON ev_systems (vehicle_id) WHERE activated;
CREATE UNIQUE INDEX ev_systems_one_active_per_charger ON ev_systems (charger_id) WHERE activated;

CREATE TABLE vehicle_detections (
    charger_id    TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    plugged_in_at INTEGER,
    vehicle_id    TEXT,
    reason        TEXT,
    polled_at     INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX vehicle_detections_open ON vehicle_detections (status) WHERE status <> 'UNPLUGGED';
