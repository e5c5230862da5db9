DROP INDEX jobs_pending;
DROP INDEX jobs_single_instance_unfinished;
ALTER TABLE jobs DROP COLUMN waiting_for;
ALTER TABLE jobs DROP COLUMN single_instance;
