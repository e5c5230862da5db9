-- Scheduled jobs: one schedule per job type and institution.
CREATE TABLE schedules (
    id            bigserial PRIMARY KEY,
    institution   text NOT NULL,
    job_type      text NOT NULL,
    spec          jsonb NOT NULL,
    params        jsonb NOT NULL DEFAULT '{}',
    enabled       boolean NOT NULL DEFAULT true,
    missed_policy text NOT NULL DEFAULT 'run_once' CHECK (missed_policy IN ('run_once', 'skip')),
    next_run_at   timestamptz NOT NULL,
    last_run_at   timestamptz,
    last_job_id   bigint,
    last_message  text NOT NULL DEFAULT '',
    updated_by    text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (institution, job_type)
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled;
