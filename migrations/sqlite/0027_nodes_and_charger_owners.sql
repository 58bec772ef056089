-- Several Coupler nodes on one database: on SQLite there is only ever one (the file is one
-- process's), but it keeps the same records, so one code path serves both backends. Each running
-- node has a row here with a lease it renews (its heartbeat). Times are microseconds since the epoch.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    lease_until INTEGER NOT NULL
);

-- Which node holds each connected charger's socket, and which of its connections; the row goes
-- with its node (a node's lease is the lease of every charger it holds).
CREATE TABLE charger_owners (
    charger_id  TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    node_id     TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    connection  INTEGER NOT NULL,
    since       INTEGER NOT NULL
);

CREATE INDEX charger_owners_by_node ON charger_owners (node_id);
