-- Logins to the console (/console): the people of an API client who may look at its data in a
-- browser. A login's e-mail address is unique across clients, so signing in needs no client id; the
-- password is kept only as an Argon2id hash (PHC string). Each signed-in browser is a session whose
-- cookie token is kept only as its SHA-256 hash, with the time it expires.
CREATE TABLE console_logins (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE INDEX console_logins_by_client ON console_logins (client_id, created_at);

CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY,
    login_id    TEXT NOT NULL REFERENCES console_logins (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);

-- The console lists a client's latest actions.
CREATE INDEX actions_by_client_newest ON actions (client_id, created_at DESC, id DESC);
