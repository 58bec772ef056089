-- Measurement for flexibility events: each event's control-group share (the targets held back are
-- flex_event_targets rows in state HELD_BACK), cars' charge readings kept for telemetry (a poll
-- keeps the maker's reading; chargers' readings are meter_samples), and overrides seen on the meter
-- during an event, each attributed to the enrolment's part (target) in it.

ALTER TABLE flex_events ADD COLUMN control_group_share DOUBLE PRECISION NOT NULL DEFAULT 0;

CREATE TABLE vehicle_readings (
    vehicle_id     TEXT NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    read_at        TIMESTAMPTZ NOT NULL,
    charge_rate_kw DOUBLE PRECISION,
    is_charging    BOOLEAN,
    battery_level  DOUBLE PRECISION,
    PRIMARY KEY (vehicle_id, read_at)
);

CREATE TABLE flex_overrides (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL REFERENCES flex_events (id) ON DELETE CASCADE,
    target_id    TEXT NOT NULL REFERENCES flex_event_targets (id) ON DELETE CASCADE,
    enrolment_id TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    observed_at  TIMESTAMPTZ NOT NULL,
    observed_kw  DOUBLE PRECISION NOT NULL,
    cap_kw       DOUBLE PRECISION NOT NULL,
    by_whom      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    detected_at  TIMESTAMPTZ NOT NULL
);
-- One override per target and source: the first time the meter shows it.
CREATE UNIQUE INDEX flex_overrides_one_per_target ON flex_overrides (target_id, source);
CREATE INDEX flex_overrides_by_event ON flex_overrides (event_id, observed_at);
