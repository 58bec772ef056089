-- A user may hold several accounts at one maker (two people in one household, each with their own
-- account): accounts are told apart by the maker's own identity of the account, and only the same
-- maker account linked again is a relink. Accounts linked before this carry no identity; a relink
-- finds one only when the new listing holds every vehicle it has (nothing can be lost that way).
--
-- And why a charger's vehicle detection has no vehicle, as a code beside the words.

ALTER TABLE vendor_accounts ADD COLUMN vendor_account_ref TEXT;
ALTER TABLE vendor_accounts DROP CONSTRAINT vendor_accounts_user_id_vendor_key;
CREATE UNIQUE INDEX vendor_accounts_by_identity ON vendor_accounts (user_id, vendor, vendor_account_ref)
    WHERE vendor_account_ref IS NOT NULL;
CREATE INDEX vendor_accounts_by_user_vendor ON vendor_accounts (user_id, vendor);

ALTER TABLE vehicle_detections ADD COLUMN reason_code TEXT;
