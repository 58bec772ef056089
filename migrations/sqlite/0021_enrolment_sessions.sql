-- Enrolment sessions: the hosted page where a driver reads a flexibility program's terms and
-- enrols devices in it. Like a link session, only the hash of the page's token is kept; the form's
-- CSRF token is sealed with Coupler's key so the page can show it again.
CREATE TABLE enrolment_sessions (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    program_id     TEXT NOT NULL REFERENCES flex_programs (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL UNIQUE,
    devices        TEXT NOT NULL,
    consent        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    language       TEXT NOT NULL,
    csrf_token     TEXT NOT NULL,
    status         TEXT NOT NULL,
    enrolment_ids  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
