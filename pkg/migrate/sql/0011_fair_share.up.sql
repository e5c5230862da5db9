-- Fair shares and priorities: an operator's priority override per job, and
-- the queue each admission of a chunk went to (a job's class can change
-- while its chunks are in flight: the reconciler must look in the right one).
ALTER TABLE jobs ADD COLUMN priority text NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('high', 'normal', 'low'));
ALTER TABLE chunks ADD COLUMN queue text;
