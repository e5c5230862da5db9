DROP TABLE job_set_members;
DROP TABLE set_problems;
DROP TABLE set_members;
DROP TABLE sets;
