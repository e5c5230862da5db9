DELETE FROM record_keys k WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = k.record_id);
DELETE FROM record_versions v WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = v.record_id);
ALTER TABLE record_keys ADD CONSTRAINT record_keys_record_id_fkey
    FOREIGN KEY (record_id) REFERENCES records (id) ON DELETE CASCADE;
ALTER TABLE record_versions ADD CONSTRAINT record_versions_record_id_fkey
    FOREIGN KEY (record_id) REFERENCES records (id) ON DELETE CASCADE;
