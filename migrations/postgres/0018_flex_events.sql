-- Flexibility events and each enrolment's part in one (a target). A target on a charger owns one
-- `flex` limit source (limit_sources.id in limit_source_id) with the target's window, which the limit
-- keeper puts on the charger; a target on a vehicle keeps the maker commands sent at its start and
-- end. next_check_at is when the engine looks at a target next (NULL: nothing left to do).

CREATE TABLE flex_events (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    program_id         TEXT NOT NULL REFERENCES flex_programs (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    value              DOUBLE PRECISION,
    unit               TEXT,
    limit_a            DOUBLE PRECISION NOT NULL,
    start_at           TIMESTAMPTZ NOT NULL,
    end_at             TIMESTAMPTZ NOT NULL,
    max_random_delay_s INTEGER NOT NULL,
    random_seed        BIGINT NOT NULL,
    targets            TEXT NOT NULL,
    cancelled_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX flex_events_by_program_newest ON flex_events (program_id, created_at DESC, id DESC);
CREATE INDEX flex_events_by_program_start ON flex_events (program_id, start_at);

CREATE TABLE flex_event_targets (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL REFERENCES flex_events (id) ON DELETE CASCADE,
    enrolment_id    TEXT NOT NULL REFERENCES flex_enrolments (id) ON DELETE CASCADE,
    charger_id      TEXT,
    vehicle_id      TEXT,
    delay_s         INTEGER NOT NULL,
    limit_source_id TEXT,
    start_action_id TEXT,
    end_action_id   TEXT,
    state           TEXT NOT NULL,
    detail          TEXT,
    opt_out         TEXT,
    next_check_at   TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    CHECK ((charger_id IS NULL) <> (vehicle_id IS NULL))
);
CREATE UNIQUE INDEX flex_event_targets_one_per_enrolment ON flex_event_targets (event_id, enrolment_id);
CREATE INDEX flex_event_targets_due ON flex_event_targets (next_check_at) WHERE next_check_at IS NOT NULL;
