-- Which node sends an operation and waits for the charger's answer: the node that took it, or the
-- node holding the charger's socket that it was handed to (with the command to send, as JSON). A
-- node that restarts fails only the unanswered operations of its own previous run and of nodes
-- that died, not those other live nodes are waiting on.
ALTER TABLE charger_operations ADD COLUMN node_id TEXT;
ALTER TABLE charger_operations ADD COLUMN command TEXT;

-- The pending operations handed to a node, which it looks for when woken.
CREATE INDEX charger_operations_handed ON charger_operations (node_id, status);
