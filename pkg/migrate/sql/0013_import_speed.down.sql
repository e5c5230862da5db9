ALTER TABLE record_key_claims
    ALTER COLUMN institution TYPE text COLLATE "default",
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN value TYPE text COLLATE "default";
ALTER TABLE record_keys
    ALTER COLUMN institution TYPE text COLLATE "default",
    ALTER COLUMN kind TYPE text COLLATE "default",
    ALTER COLUMN value TYPE text COLLATE "default";
ALTER TABLE import_staging ALTER COLUMN raw SET COMPRESSION default;
ALTER TABLE record_versions ALTER COLUMN marc SET COMPRESSION default;
ALTER TABLE records ALTER COLUMN marc SET COMPRESSION default;
DELETE FROM import_staging s WHERE NOT EXISTS (SELECT FROM jobs j WHERE j.id = s.job_id);
DELETE FROM job_report r WHERE NOT EXISTS (SELECT FROM jobs j WHERE j.id = r.job_id);
ALTER TABLE import_staging ADD CONSTRAINT import_staging_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;
ALTER TABLE job_report ADD CONSTRAINT job_report_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;
ALTER TABLE import_staging SET LOGGED;
DELETE FROM record_keys k WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = k.record_id);
DELETE FROM record_versions v WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = v.record_id);
ALTER TABLE record_keys ADD CONSTRAINT record_keys_record_id_fkey
    FOREIGN KEY (record_id) REFERENCES records (id) ON DELETE CASCADE;
ALTER TABLE record_versions ADD CONSTRAINT record_versions_record_id_fkey
    FOREIGN KEY (record_id) REFERENCES records (id) ON DELETE CASCADE;
