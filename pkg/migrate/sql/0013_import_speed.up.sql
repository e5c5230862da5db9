-- Metadata Import speed (issue 5).
--
-- record_keys and record_versions lose their foreign keys to records. Both
-- are written only by Metadata Import and its revert, in the same
-- transaction as the record they belong to, and a record is deleted only by
-- a revert, which now deletes its keys and versions itself. The per-row
-- foreign-key check (a locking probe of records for every key and version
-- written) was about half the cost of writing keys, the largest write of an
-- import.
ALTER TABLE record_keys DROP CONSTRAINT record_keys_record_id_fkey;
ALTER TABLE record_versions DROP CONSTRAINT record_versions_record_id_fkey;
