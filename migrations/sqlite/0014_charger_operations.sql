-- Operations on chargers (reset, unlock, availability, configuration, trigger, cache, data transfer,
-- firmware, diagnostics, reservations, charging profiles, remote start), each a record from its
-- request to its answer and, for the long-running ones, to the charger's final status; and the
-- reservations ReserveNow makes.

CREATE TABLE charger_operations (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    charger_id     TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    initiator      TEXT NOT NULL,
    ocpp_action    TEXT,
    request        TEXT NOT NULL,
    -- The number the operation carries on the wire (requestId, reservationId), per charger.
    request_id     INTEGER,
    status         TEXT NOT NULL,
    answer_status  TEXT,
    answer         TEXT,
    failure_kind   TEXT,
    failure_detail TEXT,
    progress       TEXT NOT NULL DEFAULT '[]',
    final_status   TEXT,
    requested_at   INTEGER NOT NULL,
    sent_at        INTEGER,
    answered_at    INTEGER,
    completed_at   INTEGER,
    revision       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX charger_operations_by_charger ON charger_operations (charger_id, requested_at, id);
CREATE UNIQUE INDEX charger_operations_request_ids ON charger_operations (charger_id, request_id);
CREATE INDEX charger_operations_unanswered ON charger_operations (status);

CREATE TABLE charger_reservations (
    charger_id     TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    reservation_id INTEGER NOT NULL,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    operation_id   TEXT NOT NULL REFERENCES charger_operations (id) ON DELETE CASCADE,
    connector_id   INTEGER NOT NULL,
    id_tag         TEXT NOT NULL,
    parent_id_tag  TEXT,
    expires_at     INTEGER NOT NULL,
    status         TEXT NOT NULL,
    transaction_id INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (charger_id, reservation_id)
);
CREATE INDEX charger_reservations_by_status ON charger_reservations (charger_id, status);
