-- Groups the server compressed cannot be read without codec: their jobs
-- fail saying their staged records are gone (as after a crash).
DELETE FROM import_staging WHERE codec IS NOT NULL;
ALTER TABLE import_staging ALTER COLUMN raw SET STORAGE EXTENDED;
ALTER TABLE import_staging DROP COLUMN codec;
