DROP INDEX chunks_queued;
ALTER TABLE chunks DROP COLUMN queue;
ALTER TABLE jobs DROP COLUMN priority;
