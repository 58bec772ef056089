-- Work that must run on one node at a time (the pairing tick, the event relay, retention, ...):
-- one row per job, held by the node that does it until `lease_until`. The holder renews its lease
-- well before it lapses; a node that dies stops renewing, and another node takes the job when the
-- lease has lapsed. Not tied to `nodes`: a lease stands on its own time, so a node swept away and
-- registered again does not lose or keep a job by accident.
CREATE TABLE singleton_leases (
    name        TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);
