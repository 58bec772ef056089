-- Work that must run on one node at a time (the pairing tick, the event relay, retention, ...):
-- one row per job, held by the node that does it until `lease_until`. On SQLite there is only one
-- node, which holds every job; the table keeps the same records so one code path serves both
-- backends. Times are microseconds since the epoch.
CREATE TABLE singleton_leases (
    name        TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    lease_until INTEGER NOT NULL
);
