-- Fair shares and priorities: an operator's priority override per job, and
-- the queue each admission of a chunk went to (a job's class can change
-- while its chunks are in flight: the reconciler must look in the right one).
ALTER TABLE jobs ADD COLUMN priority text NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('high', 'normal', 'low'));
ALTER TABLE chunks ADD COLUMN queue text;
-- The engine counts each running job's in-flight chunks at every step: a
-- small index of just those (at most a window per job), so the count does
-- not walk the job's pending chunks.
CREATE INDEX chunks_queued ON chunks (job_id) WHERE status = 'queued';
