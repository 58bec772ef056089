-- Several Coupler nodes on one database. Each running node has a row here with a lease it renews
-- (its heartbeat); a node whose lease lapsed is dead, and any other node may sweep it away.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    lease_until TIMESTAMPTZ NOT NULL
);

-- Which node holds each connected charger's socket, and which of its connections. A charger that
-- connects to another node moves its row there; the row goes with its node (a node's lease is the
-- lease of every charger it holds), so a dead node's chargers are free for others at once.
CREATE TABLE charger_owners (
    charger_id  TEXT PRIMARY KEY REFERENCES chargers (id) ON DELETE CASCADE,
    node_id     TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    connection  BIGINT NOT NULL,
    since       TIMESTAMPTZ NOT NULL
);

CREATE INDEX charger_owners_by_node ON charger_owners (node_id);
