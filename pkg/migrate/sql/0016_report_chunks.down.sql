DROP VIEW job_report;
CREATE TABLE job_report (
    job_id    bigint NOT NULL,
    chunk_seq int NOT NULL,
    ord       int NOT NULL,
    record_id text NOT NULL,
    outcome   text NOT NULL,
    message   text NOT NULL DEFAULT ''
);
CREATE INDEX job_report_job ON job_report (job_id, chunk_seq, ord);
INSERT INTO job_report (job_id, chunk_seq, ord, record_id, outcome, message)
SELECT c.job_id, c.chunk_seq, r.ord - 1, r.record_id, r.outcome, r.message
FROM job_report_chunks c, unnest(c.record_ids, c.outcomes, c.messages) WITH ORDINALITY AS r(record_id, outcome, message, ord);
DROP TABLE job_report_chunks;
