-- Smart charging: a policy per vehicle, EV system or charger; a plan per plug-in a policy governs
-- (kept after it ends, with its outcome); and the `schedule` limit source that carries a plan to
-- its charger as periods (a cap that changes over time).

-- A limit source's periods, when its cap changes over time (JSON: [{"start", "maxCurrentA"}]).
ALTER TABLE limit_sources ADD COLUMN schedule TEXT;
-- A charger has one plan on it at a time.
CREATE UNIQUE INDEX limit_sources_one_schedule ON limit_sources (charger_id) WHERE kind = 'schedule';

CREATE TABLE smart_charging_policies (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vehicle_id       TEXT REFERENCES vehicles (id) ON DELETE CASCADE,
    ev_system_id     TEXT REFERENCES ev_systems (id) ON DELETE CASCADE,
    charger_id       TEXT REFERENCES chargers (id) ON DELETE CASCADE,
    enabled          INTEGER NOT NULL,
    -- Deadline, weekday deadlines, one-off departures, targets, minimum, strategy (JSON).
    settings         TEXT NOT NULL,
    -- The charge-now override: since when, until it is ended or the target is reached.
    charge_now_since INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK ((CASE WHEN vehicle_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN ev_system_id IS NULL THEN 0 ELSE 1 END)
         + (CASE WHEN charger_id IS NULL THEN 0 ELSE 1 END) = 1)
);
-- One policy per vehicle, EV system and charger.
CREATE UNIQUE INDEX smart_charging_policies_vehicle ON smart_charging_policies (vehicle_id);
CREATE UNIQUE INDEX smart_charging_policies_ev_system ON smart_charging_policies (ev_system_id);
CREATE UNIQUE INDEX smart_charging_policies_charger ON smart_charging_policies (charger_id);

CREATE TABLE smart_charging_plans (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    policy_id   TEXT NOT NULL REFERENCES smart_charging_policies (id) ON DELETE CASCADE,
    -- What it charged and where; plain ids, so an ended plan outlives a charger that is removed.
    vehicle_id  TEXT,
    charger_id  TEXT,
    state       TEXT NOT NULL,
    -- Deadline, target, slots, costs, outcome, what the charger reported (JSON).
    details     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX smart_charging_plans_by_policy ON smart_charging_plans (policy_id, created_at);
CREATE INDEX smart_charging_plans_live ON smart_charging_plans (state) WHERE state <> 'ENDED';
