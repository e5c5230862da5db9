DROP TABLE import_staging;
DROP TABLE import_files;
DROP TABLE record_versions;
DROP TABLE record_keys;
DROP TABLE records;
