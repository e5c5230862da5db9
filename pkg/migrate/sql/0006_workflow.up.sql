-- Workflow events and the jobs they started; reruns point at their original.
CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    institution  text NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL DEFAULT '{}',
    submitted_by text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    job_ids      bigint[] NOT NULL DEFAULT '{}'
);
CREATE INDEX events_institution ON events (institution, id DESC);
ALTER TABLE jobs ADD COLUMN rerun_of bigint REFERENCES jobs (id);
