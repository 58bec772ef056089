-- Actions: asynchronous commands on a vehicle or charger, stored before anything is sent.
-- target_state and attempts are JSON documents (text, so both backends run the same statements).

CREATE TABLE actions (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    target_state    TEXT NOT NULL,
    state           TEXT NOT NULL,
    failure_type    TEXT,
    failure_detail  TEXT,
    attempts        TEXT NOT NULL,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    completed_at    INTEGER,
    deadline        INTEGER NOT NULL
);
CREATE UNIQUE INDEX actions_idempotency ON actions (client_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX actions_pending_by_target ON actions (target_type, target_id) WHERE state = 'PENDING';
CREATE INDEX actions_pending ON actions (created_at) WHERE state = 'PENDING';
