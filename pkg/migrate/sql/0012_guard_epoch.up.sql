-- The guard's fencing epoch and its PostgreSQL backstop (pkg/guard).
--
-- The guard decides in Redis (one Lua step per job) on a copy of the
-- unfinished jobs; this database stays the truth. Every decision is recorded
-- with the epoch of the Redis copy it was taken on, and the job's insert
-- holds a share lock on the epoch row and refuses a decision whose epoch is
-- no longer current: the rebuild of a lost Redis copy takes the row FOR
-- UPDATE and bumps it, so no decision taken on the old copy commits after.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE guard_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL
);
INSERT INTO guard_epoch (epoch) VALUES (0);

-- The epoch a job's guard decision was taken under (NULL: decided in
-- PostgreSQL alone, or inserted without a guard).
ALTER TABLE jobs ADD COLUMN guard_epoch bigint;
-- The types this job conflicts with at its institution, resolved from the
-- configuration when it was submitted (symmetric).
ALTER TABLE jobs ADD COLUMN conflicts_with text[] NOT NULL DEFAULT '{}';

-- One claim per live job (QUEUED .. FINALIZING) and conflicting pair of
-- types; two live jobs of the two sides of a pair cannot both hold one,
-- whatever Redis said. (Single-instance types are backed by the unique index
-- jobs_single_instance_unfinished.)
CREATE TABLE guard_claims (
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    institution text   NOT NULL,
    pair        text   NOT NULL,
    side        text   NOT NULL,
    PRIMARY KEY (job_id, pair),
    CONSTRAINT guard_claims_conflict EXCLUDE USING gist (institution WITH =, pair WITH =, side WITH <>)
);

CREATE FUNCTION guard_claims_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live constant text[] := ARRAY['QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING'];
BEGIN
    IF NEW.status = ANY (live) THEN
        IF TG_OP = 'INSERT' OR NOT (OLD.status = ANY (live)) THEN
            INSERT INTO guard_claims (job_id, institution, pair, side)
            SELECT NEW.id, NEW.institution, least(NEW.type, c) || ' ' || greatest(NEW.type, c), NEW.type
            FROM unnest(NEW.conflicts_with) AS c
            ON CONFLICT (job_id, pair) DO NOTHING;
        END IF;
    ELSIF TG_OP = 'UPDATE' AND OLD.status = ANY (live) THEN
        DELETE FROM guard_claims WHERE job_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER guard_claims_sync AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW WHEN (cardinality(NEW.conflicts_with) > 0) EXECUTE FUNCTION guard_claims_sync();
