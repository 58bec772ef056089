-- Authorisation: the id tokens each user registers, the policy for tokens nobody registered (per
-- user, overridable per charger), the local authorisation list Coupler keeps on each charger, and
-- what a session and a reading were found to be (not authorised, implausible).

CREATE TABLE id_tokens (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    -- The form the token is found by, whatever form a charger sends it in (see core's match_key).
    match_key  TEXT NOT NULL,
    status     TEXT NOT NULL,
    expires_at TIMESTAMPTZ,
    group_id   TEXT,
    label      TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, match_key)
);
CREATE INDEX id_tokens_by_user_newest ON id_tokens (user_id, created_at DESC, id DESC);

-- NULL: the default (ACCEPT) for users; the owner's policy for chargers.
ALTER TABLE users ADD COLUMN unknown_token_policy TEXT;
ALTER TABLE chargers ADD COLUMN unknown_token_policy TEXT;

-- The list Coupler last had a charger accept, and its version.
CREATE TABLE charger_local_lists (
    charger_id TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    entries    TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The verdict on the token a session started with (NULL: not judged, sessions from before), and
-- what made its values implausible (NULL: nothing); an implausible session's energy counts as none.
ALTER TABLE charge_sessions ADD COLUMN authorisation TEXT;
ALTER TABLE charge_sessions ADD COLUMN implausible TEXT;
-- What made a reading implausible (NULL: nothing); flagged readings are kept but never used.
ALTER TABLE meter_samples ADD COLUMN implausible TEXT;
