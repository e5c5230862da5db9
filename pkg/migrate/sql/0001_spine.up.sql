-- The job spine: tokens, jobs, the chunk ledger, reports, worker heartbeats.

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    institution text,
    network     text,
    role        text NOT NULL CHECK (role IN ('staff', 'operator', 'network-monitor')),
    user_name   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'network-monitor') = (network IS NOT NULL AND institution IS NULL))
);

CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    institution   text NOT NULL,
    type          text NOT NULL,
    status        text NOT NULL,
    submitted_by  text NOT NULL,
    params        jsonb NOT NULL DEFAULT '{}',
    priority_class text NOT NULL,
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    ended_at      timestamptz,
    total_chunks  int NOT NULL DEFAULT 0,
    total_records bigint NOT NULL DEFAULT 0,
    counters      jsonb NOT NULL DEFAULT '{}',
    alerts        text[] NOT NULL DEFAULT '{}',
    message       text NOT NULL DEFAULT ''
);
CREATE INDEX jobs_institution_submitted ON jobs (institution, submitted_at DESC);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING');

-- Every status a job passed through, for `job show` and audits.
CREATE TABLE job_events (
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    status  text NOT NULL,
    message text NOT NULL DEFAULT ''
);
CREATE INDEX job_events_job ON job_events (job_id, at);

-- A terminal status is terminal: no update may leave it, whatever the caller.
-- The full transition table lives in Go (pkg/jobs/status.go) and is enforced
-- by every status update's WHERE clause; this trigger is the last line.
CREATE FUNCTION jobs_terminal_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('COMPLETED_SUCCESS', 'COMPLETED_WARNING', 'COMPLETED_FAILED',
                      'COMPLETED_NO_BULKS', 'FAILED', 'SKIPPED', 'SYSTEM_ABORTED', 'USER_ABORTED')
       AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'job %: status % is terminal, cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER jobs_terminal_guard BEFORE UPDATE OF status ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_terminal_guard();

-- The chunk ledger. A chunk is a key range [lo_key, hi_key] of the job's
-- population. fence goes up at every admission; a commit must match it.
CREATE TABLE chunks (
    job_id       bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq          int NOT NULL,
    lo_key       bigint NOT NULL,
    hi_key       bigint NOT NULL,
    records      int NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'done', 'failed')),
    fence        bigint NOT NULL DEFAULT 0,
    admitted_at  timestamptz,
    started_at   timestamptz,
    worker_id    text,
    committed_at timestamptz,
    attempts     int NOT NULL DEFAULT 0,
    counters     jsonb NOT NULL DEFAULT '{}',
    error        text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX chunks_open ON chunks (job_id, seq) WHERE status IN ('pending', 'queued');

-- Per-record report rows, written in the chunk's own transaction.
CREATE TABLE job_report (
    job_id    bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chunk_seq int NOT NULL,
    ord       int NOT NULL, -- position within the chunk, to keep record order
    record_id text NOT NULL,
    outcome   text NOT NULL,
    message   text NOT NULL DEFAULT ''
);
CREATE INDEX job_report_job ON job_report (job_id, chunk_seq, ord);

-- Worker heartbeats: a worker whose heartbeat is stale is dead, and its
-- chunks are re-admitted under a new fence.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          int NOT NULL,
    concurrency  int NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
