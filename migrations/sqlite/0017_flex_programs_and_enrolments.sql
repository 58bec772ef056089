-- Flexibility programs (owned by an API client), the devices users enrol in them, and groups of
-- enrolments to aim events at. Rules, limits, incentive terms, consent and group filters are JSON:
-- they are read whole, never queried into.

CREATE TABLE flex_programs (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    eligibility TEXT NOT NULL,
    limits      TEXT NOT NULL,
    incentive   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX flex_programs_by_client_newest ON flex_programs (client_id, created_at DESC, id DESC);

CREATE TABLE flex_enrolments (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    program_id    TEXT NOT NULL REFERENCES flex_programs (id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_kind   TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    consent       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX flex_enrolments_by_program_newest ON flex_enrolments (program_id, created_at DESC, id DESC);
CREATE INDEX flex_enrolments_by_user_newest ON flex_enrolments (user_id, created_at DESC, id DESC);
-- A device has one enrolment in a program until it ends (unenrolled or rejected).
CREATE UNIQUE INDEX flex_enrolments_one_live_per_device ON flex_enrolments (program_id, device_kind, device_id)
    WHERE status NOT IN ('UNENROLLED', 'REJECTED');

CREATE TABLE flex_groups (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    program_id    TEXT NOT NULL REFERENCES flex_programs (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    enrolment_ids TEXT NOT NULL,
    filter        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX flex_groups_by_program ON flex_groups (program_id, created_at, id);
