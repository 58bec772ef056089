-- API clients (tenants), their access tokens, and their users.
-- Times are microseconds since the Unix epoch: SQLite has no timestamp type, and integers keep
-- ordering and equality exact.

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX access_tokens_by_client ON access_tokens (client_id);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

-- `id` is Coupler's own key, which everything below a user references; `external_id` is the app's.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (client_id, external_id)
);
CREATE INDEX users_by_client_newest ON users (client_id, created_at DESC, external_id DESC);
