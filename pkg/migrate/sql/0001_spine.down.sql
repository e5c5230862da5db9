DROP TABLE workers;
DROP TABLE job_report;
DROP TABLE chunks;
DROP TABLE job_events;
DROP TABLE jobs;
DROP FUNCTION jobs_terminal_guard();
DROP TABLE api_tokens;
