-- Sets: itemized (a list of ids uploaded with a header naming their kind)
-- and logical (a saved query over the catalog, run again whenever a job
-- takes a snapshot of the set).
CREATE TABLE sets (
    id           bigserial PRIMARY KEY,
    institution  text NOT NULL,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('itemized', 'logical')),
    -- What the members are: catalog records (bib, authority), physical
    -- items, users, or PO lines.
    content_type text NOT NULL CHECK (content_type IN ('bib', 'authority', 'item', 'user', 'po_line')),
    -- itemized: the header of the uploaded file (MMS ID, Barcode, User ID).
    id_kind      text NOT NULL DEFAULT '',
    -- logical: the query, as written.
    query        text NOT NULL DEFAULT '',
    -- logical: the time zone the query's dates are days in (the
    -- institution's when the set was created).
    time_zone    text NOT NULL DEFAULT 'UTC',
    description  text NOT NULL DEFAULT '',
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (institution, name)
);

-- The members of an itemized set, in file order (ord is the 1-based
-- position among the ids found): the id of the record, item or user.
--
-- set_members, set_problems and job_set_members have no foreign keys: they
-- are written in bulk (100k rows and more), and a per-row foreign-key check
-- costs as much as the write itself (measured: 450 ms of 725 ms for 50k
-- members). Each is written only in the transaction that holds its parent
-- row (the set being created; the job being planned, locked), and removed
-- with it (sets.Delete; the job type's Cleanup via sets.DropSnapshot).
CREATE TABLE set_members (
    set_id    bigint NOT NULL,
    ord       bigint NOT NULL,
    member_id bigint NOT NULL,
    PRIMARY KEY (set_id, ord)
);

-- The lines of an uploaded id file that did not become members, with why
-- (not found, not a number, of another content type, a duplicate).
CREATE TABLE set_problems (
    set_id  bigint NOT NULL,
    line    bigint NOT NULL,
    value   text NOT NULL,
    problem text NOT NULL,
    PRIMARY KEY (set_id, line)
);

-- A job's copy of its set's members, taken when the job starts (logical
-- sets: the query run then), so the job works on one fixed population
-- whatever happens to the set or the catalog meanwhile. ord runs 1..n; the
-- rows are dropped when the job ends.
CREATE TABLE job_set_members (
    job_id    bigint NOT NULL,
    ord       bigint NOT NULL,
    member_id bigint NOT NULL,
    PRIMARY KEY (job_id, ord)
);
