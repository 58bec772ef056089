-- The location whose prices a smart-charging plan is planned against: a price change at one
-- location makes again only the live plans there.
ALTER TABLE smart_charging_plans ADD COLUMN location_id TEXT;
CREATE INDEX smart_charging_plans_live_at ON smart_charging_plans (client_id, location_id) WHERE state <> 'ENDED';

-- The limit keeper looks for the next window edge after every change: found by index, not by
-- reading every source.
CREATE INDEX limit_sources_by_valid_from ON limit_sources (valid_from);
CREATE INDEX limit_sources_by_valid_to ON limit_sources (valid_to);
