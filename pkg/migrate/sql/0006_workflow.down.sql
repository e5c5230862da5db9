ALTER TABLE jobs DROP COLUMN rerun_of;
DROP TABLE events;
