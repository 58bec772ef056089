-- Every event is written twice: inserted unpublished, then numbered by the relay. The relay finds
-- the unpublished ones through the partial index `events_unpublished`, which keeps an entry for
-- each numbered event until a vacuum removes it; without one, each look of the relay walks every
-- event ever written (measured: 0.4 s a look at 135,000 events, 4 ms after a VACUUM). The same
-- holds for charger operations, written at least twice each. These tables are vacuumed after
-- a small share of their rows changed, rather than PostgreSQL's default of a fifth, so the relay's
-- look stays short however large the table grows. (This needs autovacuum, PostgreSQL's default;
-- Coupler warns at start when it is off.)
ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);
ALTER TABLE charger_operations SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);
