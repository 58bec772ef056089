-- A user may hold several accounts at one maker (two people in one household, each with their own
-- account): accounts are told apart by the maker's own identity of the account, and only the same
-- maker account linked again is a relink. Accounts linked before this carry no identity; a relink
-- finds one only when the new listing holds every vehicle it has (nothing can be lost that way).
--
-- SQLite cannot drop the old UNIQUE (user_id, vendor), so the table is rebuilt the way SQLite
-- documents: a new table, the rows copied, the old one dropped, the new one renamed. This needs
-- foreign keys off (the store migrates on a connection without them and checks every reference
-- afterwards), or dropping the old table would cascade to the vehicles and interventions.
--
-- And why a charger's vehicle detection has no vehicle, as a code beside the words.

CREATE TABLE vendor_accounts_rebuilt (
    id                  TEXT PRIMARY KEY,
    client_id           TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    vendor              TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    -- Ciphertext (core::secret::Cipher); never a token in clear.
    access_token        TEXT NOT NULL,
    refresh_token       TEXT,
    expires_at          INTEGER,
    token_version       INTEGER NOT NULL,
    refresh_lease_until INTEGER,
    meta                TEXT NOT NULL,
    is_valid            BOOLEAN NOT NULL,
    intervention_id     TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    vendor_account_ref  TEXT
);
INSERT INTO vendor_accounts_rebuilt (id, client_id, user_id, vendor, scopes, access_token, refresh_token, expires_at,
    token_version, refresh_lease_until, meta, is_valid, intervention_id, created_at, updated_at)
SELECT id, client_id, user_id, vendor, scopes, access_token, refresh_token, expires_at,
    token_version, refresh_lease_until, meta, is_valid, intervention_id, created_at, updated_at
FROM vendor_accounts;
DROP TABLE vendor_accounts;
ALTER TABLE vendor_accounts_rebuilt RENAME TO vendor_accounts;
CREATE INDEX vendor_accounts_by_expiry ON vendor_accounts (expires_at) WHERE is_valid;
CREATE UNIQUE INDEX vendor_accounts_by_identity ON vendor_accounts (user_id, vendor, vendor_account_ref)
    WHERE vendor_account_ref IS NOT NULL;
CREATE INDEX vendor_accounts_by_user_vendor ON vendor_accounts (user_id, vendor);

ALTER TABLE vehicle_detections ADD COLUMN reason_code TEXT;
