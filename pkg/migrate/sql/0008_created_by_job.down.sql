DROP INDEX records_created_by_job;
ALTER TABLE records DROP COLUMN created_by_job;
