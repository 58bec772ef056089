-- OCPP 2.0.1 transactions: the charger names them (a string) and numbers their events. Coupler keeps
-- its own integer session id as the key and maps the charger's id onto it.

ALTER TABLE charge_sessions ADD COLUMN ocpp_transaction_id TEXT;
-- The RequestStartTransaction that started the session, when one did.
ALTER TABLE charge_sessions ADD COLUMN remote_start_id BIGINT;
-- Lowest and highest TransactionEvent seqNo seen: the lowest holds the start, the highest the
-- current charging state (offline events arrive late and out of order).
ALTER TABLE charge_sessions ADD COLUMN first_seq_no BIGINT;
ALTER TABLE charge_sessions ADD COLUMN last_seq_no BIGINT;
CREATE UNIQUE INDEX charge_sessions_by_ocpp_transaction
    ON charge_sessions (charger_id, ocpp_transaction_id) WHERE ocpp_transaction_id IS NOT NULL;

-- Every TransactionEvent stored once: a repeated (transaction, seqNo) is a retry.
CREATE TABLE transaction_events (
    charger_id          TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    ocpp_transaction_id TEXT NOT NULL,
    seq_no              BIGINT NOT NULL,
    event_type          TEXT NOT NULL,
    occurred_at         TIMESTAMPTZ NOT NULL,
    offline             BOOLEAN NOT NULL,
    PRIMARY KEY (charger_id, ocpp_transaction_id, seq_no)
);
