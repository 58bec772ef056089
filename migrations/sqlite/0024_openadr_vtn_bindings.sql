-- OpenADR 3 VTN bindings: a flexibility program driven by a utility's VTN, Coupler acting as its
-- VEN. The binding's settings are JSON (read whole, never queried into); the VTN client secret and
-- the callback token (the bearer a VTN's webhook notifications carry, handed to the VTN when Coupler
-- subscribes) are sealed with COUPLER_SECRET_KEY like the makers' tokens. next_poll_at is when the VEN task looks
-- at the VTN next; failures counts the failed looks in a row (the back-off grows with it); wakes counts the
-- requests for a look now (a poll-now, a webhook), so one that comes during a look is not lost.

CREATE TABLE openadr_vtn_bindings (
    program_id           TEXT PRIMARY KEY REFERENCES flex_programs (id) ON DELETE CASCADE,
    client_id            TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    settings             TEXT NOT NULL,
    client_secret_sealed TEXT,
    callback_token_sealed TEXT NOT NULL,
    ven_id               TEXT,
    vtn_program_id       TEXT,
    subscription_id      TEXT,
    last_poll_at         INTEGER,
    last_success_at      INTEGER,
    last_error           TEXT,
    failures             INTEGER NOT NULL DEFAULT 0,
    next_poll_at         INTEGER NOT NULL,
    wakes                INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX openadr_vtn_bindings_due ON openadr_vtn_bindings (next_poll_at);

-- Each interval of a VTN event and the flex event it became (one per interval: an event's
-- intervals may ask for different limits), with the fingerprint of what the VTN said last, the
-- report sent back for it and the fingerprint of that report's content.
CREATE TABLE openadr_vtn_events (
    program_id         TEXT NOT NULL REFERENCES openadr_vtn_bindings (program_id) ON DELETE CASCADE,
    vtn_event_id       TEXT NOT NULL,
    interval_id        INTEGER NOT NULL,
    flex_event_id      TEXT REFERENCES flex_events (id) ON DELETE SET NULL,
    fingerprint        TEXT NOT NULL,
    outcome            TEXT,
    report_id          TEXT,
    report_fingerprint TEXT,
    gone_at            INTEGER,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (program_id, vtn_event_id, interval_id)
);
