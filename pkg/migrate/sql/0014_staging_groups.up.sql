-- Staging in groups (issue 5): import_staging holds one row per chunk-sized
-- group of a file's records instead of one per record. The server frames
-- the records of a binary file without parsing them (marc.BinaryReader
-- ReadRaw) and COPYs each group's bytes, concatenated, as one value; each
-- chunk of the job is one group, read back in one row and split at the
-- record terminators. A row per record cost a parse and a re-encoding per
-- record on the server, and per-row overhead (tuple, index entry, COPY row)
-- on both sides.
--
-- first_ord is the ordinal in the file of the group's first record and
-- records how many ordinals the group holds, from first_ord on: unreadable
-- records included, which are not in raw. raw is the group's records,
-- each ending with its record terminator (0x1D): as framed from a binary
-- file (decoded with import_files.raw_encoding), or as marc.Marshal wrote
-- what was read from a MARCXML file (UTF-8). notes (NULL when there is
-- nothing to say) is a JSON array of what raw does not say, by ordinal:
-- why a record is not in raw, its framing or reading warnings, where a
-- record started in the file (see pkg/staging).
--
-- Staged records of jobs in flight are dropped: such a job fails saying its
-- staged records are gone (metadataimport.ErrStagingLost), as after a crash
-- (the table is unlogged); run the file again. Migrate with no import
-- initializing or running.
DROP TABLE import_staging;
CREATE UNLOGGED TABLE import_staging (
    job_id    bigint NOT NULL,
    first_ord bigint NOT NULL,
    records   int NOT NULL,
    raw       bytea NOT NULL,
    notes     jsonb,
    PRIMARY KEY (job_id, first_ord)
);
-- A group (~1 MB for 1,000 records) is always stored out of line (TOAST);
-- compressing it is worth its CPU. Measured staging a 100,000-record file
-- (99 MB, `bindery seed marc`; pkg/staging BenchmarkStage), groups of 1,000:
--   lz4       COPY 0.33-0.36 s,  43 MB; reading every group back ~0.1 s
--   EXTERNAL  COPY 0.23-0.24 s, 103 MB; the same
--   pglz      COPY 1.7-2.4 s,    40 MB
-- (one row per record, before: COPY 0.70 s, 110 MB, as a ~1 KB record is
-- under the 2 KB compression threshold). lz4 costs ~0.1 s a 100,000 records
-- at upload for 60 MB less: 0.6 GB fewer pages a million records through
-- shared buffers (128 MB by default) and onto disk while the import runs,
-- where they would evict the indexes the import's lookups need.
ALTER TABLE import_staging ALTER COLUMN raw SET COMPRESSION lz4;

-- How to decode import_staging.raw: the import profile's encoding (auto,
-- utf8, marc8) for a binary file, utf8 for MARCXML (re-encoded by the
-- server). The files staged before this migration were re-encoded too.
ALTER TABLE import_files ADD COLUMN raw_encoding text NOT NULL DEFAULT 'utf8'
    CHECK (raw_encoding IN ('auto', 'utf8', 'marc8'));
