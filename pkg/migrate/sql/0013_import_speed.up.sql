-- Metadata Import speed (issue 5).
--
-- record_keys and record_versions lose their foreign keys to records. Both
-- are written only by Metadata Import and its revert, in the same
-- transaction as the record they belong to, and no job deletes a record row:
-- a revert leaves a tombstone (deleted = true, for publishing) and deletes
-- its keys itself. The per-row
-- foreign-key check (a locking probe of records for every key and version
-- written) was about half the cost of writing keys, the largest write of an
-- import.
ALTER TABLE record_keys DROP CONSTRAINT record_keys_record_id_fkey;
ALTER TABLE record_versions DROP CONSTRAINT record_versions_record_id_fkey;

-- Likewise job_report and import_staging lose theirs to jobs: a report row
-- is written in its chunk's transaction after CommitChunk has locked the
-- job row (FOR SHARE) and a staged record in the transaction that inserted
-- the job, so the check (one locking probe of jobs per row: ~10% of an
-- import's PostgreSQL time) could never fail. Jobs are never deleted; code
-- that ever deletes one must delete its report rows and staged records.
ALTER TABLE job_report DROP CONSTRAINT job_report_job_id_fkey;
ALTER TABLE import_staging DROP CONSTRAINT import_staging_job_id_fkey;

-- MARC over ~2 KB is compressed in the row: lz4 costs a fraction of the
-- CPU of pglz (the default) for about the same size. New values only.
ALTER TABLE records ALTER COLUMN marc SET COMPRESSION lz4;
ALTER TABLE record_versions ALTER COLUMN marc SET COMPRESSION lz4;
ALTER TABLE import_staging ALTER COLUMN raw SET COMPRESSION lz4;

-- import_staging is unlogged: a staged file is working data (the job's
-- records until its chunks have read them, dropped when it ends), and
-- writing it to the WAL doubled the WAL an import writes for its records.
-- A PostgreSQL crash empties an unlogged table: a job whose staged records
-- are gone fails saying so (its initialization, or each chunk, finds fewer
-- staged records than the file had: metadataimport.ErrStagingLost) instead
-- of importing part of the file; what its committed chunks imported stays,
-- and running the file again with a matching profile completes it.
-- import_files, the job and its report stay logged.
ALTER TABLE import_staging SET UNLOGGED;

-- Match keys compare byte for byte (COLLATE "C"): matching only ever asks
-- for equality, which a deterministic collation decides on the bytes
-- anyway, but the database's default collation (C.UTF-8 or a locale) sends
-- every comparison in the key and claim indexes through strcoll (~12% of an
-- import's PostgreSQL time). Queries comparing them with parameters or
-- literals (default collation) get "C", as the column's collation wins.
ALTER TABLE record_keys
    ALTER COLUMN institution TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN value TYPE text COLLATE "C";
ALTER TABLE record_key_claims
    ALTER COLUMN institution TYPE text COLLATE "C",
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN value TYPE text COLLATE "C";
