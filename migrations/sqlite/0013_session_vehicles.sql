-- The vehicle a session charged: the car of the charger's active EV system when the session started
-- or when the pairing recognised it during the session. Statistics per vehicle read it.
ALTER TABLE charge_sessions ADD COLUMN vehicle_id TEXT;
CREATE INDEX charge_sessions_by_vehicle ON charge_sessions (vehicle_id, started_at);
