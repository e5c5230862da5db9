-- Back to one row per record (0003, as 0013 left it: no foreign key,
-- unlogged, lz4). Staged groups are dropped: jobs in flight fail with
-- ErrStagingLost.
ALTER TABLE import_files DROP COLUMN raw_encoding;
DROP TABLE import_staging;
CREATE UNLOGGED TABLE import_staging (
    job_id      bigint NOT NULL,
    ord         bigint NOT NULL,
    byte_offset bigint,
    raw         bytea,
    error       text NOT NULL DEFAULT '',
    warnings    text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, ord)
);
ALTER TABLE import_staging ALTER COLUMN raw SET COMPRESSION lz4;
