-- Charger security: the security events chargers report (SecurityEventNotification), and the
-- certificates Coupler signs for them (SignCertificate, delivered by CertificateSigned).

CREATE TABLE charger_security_events (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    -- The charger's user, so the event log can name whose charger reported it.
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    charger_id  TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    tech_info   TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX charger_security_events_by_charger ON charger_security_events (charger_id, received_at, id);

CREATE TABLE charger_certificates (
    id            TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    charger_id    TEXT NOT NULL REFERENCES chargers (id) ON DELETE CASCADE,
    usage         TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    subject       TEXT NOT NULL,
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    operation_id  TEXT REFERENCES charger_operations (id) ON DELETE SET NULL,
    issued_at     INTEGER NOT NULL
);
CREATE INDEX charger_certificates_by_charger ON charger_certificates (charger_id, issued_at, id);
CREATE UNIQUE INDEX charger_certificates_serials ON charger_certificates (serial_number);
