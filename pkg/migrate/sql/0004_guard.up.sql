-- The dependency guard's truth: what a PENDING job waits for, and a unique
-- index that refuses a second unfinished instance of a single-instance type.
ALTER TABLE jobs ADD COLUMN single_instance boolean NOT NULL DEFAULT false;
ALTER TABLE jobs ADD COLUMN waiting_for bigint[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX jobs_single_instance_unfinished ON jobs (institution, type)
    WHERE single_instance AND status IN ('PENDING', 'QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING');
CREATE INDEX jobs_pending ON jobs (institution, id) WHERE status = 'PENDING';
