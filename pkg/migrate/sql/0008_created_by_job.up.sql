-- Which job created a record, so reverting that job can delete it.
ALTER TABLE records ADD COLUMN created_by_job bigint;
-- Best effort for records written before: a record still at version 1 was
-- created by the job that last wrote it.
UPDATE records SET created_by_job = job_id WHERE version = 1;
CREATE INDEX records_created_by_job ON records (created_by_job) WHERE created_by_job IS NOT NULL;
