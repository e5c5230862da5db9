-- Publishing and export: change tracking on records, publishing runs and
-- their watermarks, and the files jobs write.

-- Every write of a record remembers the (top-level) transaction that made
-- it. An incremental run publishes the records whose last write is not
-- visible in the snapshot its predecessor took when it started: a write that
-- was in progress then, even one that got its id earlier and committed later,
-- is not visible in that snapshot, so the next run publishes it; nothing
-- depends on the order in which transactions commit.
-- Existing rows get 0 (before every snapshot); inserts take the default at
-- no extra cost; updates go through a small trigger.
ALTER TABLE records ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE records ALTER COLUMN change_xid SET DEFAULT pg_current_xact_id();
CREATE INDEX records_changes ON records (institution, change_xid);

CREATE FUNCTION records_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
CREATE TRIGGER records_touch BEFORE UPDATE ON records
    FOR EACH ROW EXECUTE FUNCTION records_touch();

-- One publishing or export run: the profile as it was when the run started
-- (so every chunk writes the same way), the snapshot it publishes up to, and
-- the watermark it publishes since (NULL: everything).
CREATE TABLE publishing_runs (
    job_id          bigint PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    institution     text NOT NULL,
    profile_id      text NOT NULL,
    profile         jsonb NOT NULL,
    mode            text NOT NULL CHECK (mode IN ('full', 'incremental', 'export')),
    since           pg_snapshot,
    upto            pg_snapshot NOT NULL,
    -- Chunks numbered from here on write deleted records (the deletes files).
    delete_from_seq int NOT NULL
);

-- Where the next incremental run of a profile starts: the snapshot of the
-- last run that completed. A failed or aborted run does not move it.
CREATE TABLE publishing_watermarks (
    institution text NOT NULL,
    profile_id  text NOT NULL,
    upto        pg_snapshot NOT NULL,
    job_id      bigint NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (institution, profile_id)
);

-- The files a job wrote (downloadable through the API). A chunk writes its
-- file under a hidden temporary name (tmp_name) and registers it in its own
-- transaction; the run's finalization renames it to name.
CREATE TABLE job_files (
    job_id    bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name      text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('records', 'deletes', 'manifest')),
    chunk_seq int,
    directory text NOT NULL,
    tmp_name  text,
    records   bigint NOT NULL,
    bytes     bigint NOT NULL,
    sha256    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, name)
);
