DROP TABLE job_files;
DROP TABLE publishing_watermarks;
DROP TABLE publishing_runs;
DROP TRIGGER records_touch ON records;
DROP FUNCTION records_touch();
DROP INDEX records_changes;
ALTER TABLE records DROP COLUMN change_xid;
