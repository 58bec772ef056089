-- A lease per action: the runner that holds it (a node's id) and until when. Taken and renewed by
-- one conditional UPDATE, so exactly one runner drives an action at a time; a lease that lapses
-- (its node died) may be taken by another runner.
ALTER TABLE actions ADD COLUMN lease_holder TEXT;
ALTER TABLE actions ADD COLUMN lease_until INTEGER;
