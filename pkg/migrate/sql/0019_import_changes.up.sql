-- What each chunk of a Metadata Import changed, one row per chunk (issue 5):
-- the records it created, and the records it merged into or overlaid as they
-- were before (see pkg/changes). Revert Import reads one row per chunk of its
-- own. Before, each previous version was a row of record_versions, and the
-- records an import created were found through an index on
-- records.created_by_job: a row, two index entries and its WAL per merged
-- record, an index entry per new one. Measured on `make bench` (400,000
-- records, half merged): without the version rows PostgreSQL's CPU went
-- 9.7 -> 7.9 s and the import's run 9.1 -> 7.5 s.
--
-- changed, versions and lengths are parallel: each record's id, its
-- records.version before and the length of its MARC then in marc, where
-- the versions' MARC is concatenated in that order (codec 's2': compressed
-- by the worker with S2; NULL: as it is). A record is in one row of a job:
-- the chunk that created it or the first that changed it (two, when another
-- job changed it between two chunks of the job: revert refuses).
CREATE TABLE import_changes (
    job_id     bigint NOT NULL,
    chunk_seq  int NOT NULL,
    created    bigint[] NOT NULL,
    changed    bigint[] NOT NULL,
    versions   int[] NOT NULL,
    lengths    int[] NOT NULL,
    codec      text CHECK (codec IN ('s2')),
    marc       bytea NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, chunk_seq)
);
ALTER TABLE import_changes ALTER COLUMN marc SET STORAGE EXTERNAL,
    -- A chunk's id arrays (~4 KB) are compressed too: lz4, not the default
    -- pglz, which cost ~1.5% of an import's database CPU.
    ALTER COLUMN created SET COMPRESSION lz4,
    ALTER COLUMN changed SET COMPRESSION lz4,
    ALTER COLUMN versions SET COMPRESSION lz4,
    ALTER COLUMN lengths SET COMPRESSION lz4;

-- The imports made before: their created records and their first versions,
-- 1,000 records to a row, so they can still be reverted. Their chunk_seq is
-- negative (-1, -2, ...): no chunk of an import still running writes one.
-- Their rows in record_versions stay (a rollback of this migration needs
-- them).
WITH legacy AS (
    SELECT r.created_by_job AS job_id, r.id, true AS created, NULL::int AS version, NULL::bytea AS marc, r.created_at AS changed_at
    FROM records r JOIN jobs j ON j.id = r.created_by_job AND j.type = 'metadata-import'
    UNION ALL
    (SELECT DISTINCT ON (v.job_id, v.record_id) v.job_id, v.record_id, false, v.version, v.marc, v.changed_at
     FROM record_versions v JOIN jobs j ON j.id = v.job_id AND j.type = 'metadata-import'
     WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = v.record_id AND r.created_by_job = v.job_id)
     ORDER BY v.job_id, v.record_id, v.version)
), numbered AS (
    SELECT *, (row_number() OVER (PARTITION BY job_id ORDER BY id) - 1) / 1000 AS g FROM legacy
)
INSERT INTO import_changes (job_id, chunk_seq, created, changed, versions, lengths, codec, marc, changed_at)
SELECT job_id, -1 - g,
    coalesce(array_agg(id ORDER BY id) FILTER (WHERE created), '{}'),
    coalesce(array_agg(id ORDER BY id) FILTER (WHERE NOT created), '{}'),
    coalesce(array_agg(version ORDER BY id) FILTER (WHERE NOT created), '{}'),
    coalesce(array_agg(length(marc) ORDER BY id) FILTER (WHERE NOT created), '{}'),
    NULL,
    coalesce(string_agg(marc, ''::bytea ORDER BY id) FILTER (WHERE NOT created), ''::bytea),
    max(changed_at)
FROM numbered GROUP BY job_id, g;

-- records.created_by_job stays (a revert tells a record its import created
-- from one it changed); nothing looks records up by it any more.
DROP INDEX records_created_by_job;
