-- The catalog: bibliographic and authority records per institution, their
-- match keys, the versions jobs replaced, and staged import files.

-- A record is kept as ISO 2709 in UTF-8 (what marc.Marshal writes), which is
-- lossless for everything the MARC readers read. The id is MMS-style: a
-- stable number that never changes and is never reused.
CREATE TABLE records (
    id          bigserial PRIMARY KEY,
    institution text NOT NULL,
    record_type text NOT NULL CHECK (record_type IN ('bib', 'authority')),
    marc        bytea NOT NULL,
    title       text NOT NULL DEFAULT '',
    suppressed  boolean NOT NULL DEFAULT false,
    deleted     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     int NOT NULL DEFAULT 1,
    -- The job that last wrote the record (revert refuses records changed since).
    job_id      bigint
);
ALTER SEQUENCE records_id_seq RESTART WITH 990000000001;
CREATE INDEX records_institution ON records (institution, record_type, id);

-- Match keys extracted from each record: kind '001' (value "003|001"),
-- '035' (normalized $a), 'isbn' (ISBN-13), 'issn' (NNNN-NNNC).
CREATE TABLE record_keys (
    record_id   bigint NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    institution text NOT NULL,
    kind        text NOT NULL,
    value       text NOT NULL
);
CREATE INDEX record_keys_match ON record_keys (institution, kind, value);
CREATE INDEX record_keys_record ON record_keys (record_id);

-- The version of a record each job replaced, for revert.
CREATE TABLE record_versions (
    record_id  bigint NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    version    int NOT NULL,
    job_id     bigint NOT NULL,
    marc       bytea NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, version)
);
CREATE INDEX record_versions_job ON record_versions (job_id);

-- An uploaded import file: the import profile as it was at submit time (so
-- every chunk, whenever it runs, decides the same way) and what was read.
CREATE TABLE import_files (
    job_id     bigint PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    profile_id text NOT NULL,
    profile    jsonb NOT NULL,
    format     text NOT NULL CHECK (format IN ('marc21', 'marcxml')),
    bytes      bigint NOT NULL,
    records    bigint NOT NULL,
    unreadable bigint NOT NULL
);

-- The records of an uploaded file, one row each in file order (ord is the
-- 1-based ordinal in the file): raw is the record as marc.Marshal wrote it
-- after reading, NULL when it could not be read, and error then says why.
CREATE TABLE import_staging (
    job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    ord         bigint NOT NULL,
    byte_offset bigint,
    raw         bytea,
    error       text NOT NULL DEFAULT '',
    warnings    text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, ord)
);
