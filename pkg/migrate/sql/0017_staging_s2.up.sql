-- Staged groups compressed by the server (issue 5). import_staging.raw was
-- compressed by PostgreSQL (lz4); now the server compresses each group with
-- S2 (github.com/klauspost/compress/s2) before COPYing it, and codec says
-- so ('s2'; NULL: raw as it is, the rows staged before this migration).
-- PostgreSQL then stores the bytes as they come (EXTERNAL: out of line, not
-- compressed again). Measured staging a 400,000-record file (395 MB, `bindery
-- seed marc`), groups of 1,000, one connection:
--   lz4 by PostgreSQL  PostgreSQL CPU 1.92 s, table 163 MB; reading back 0.55 s
--   EXTERNAL, raw      PostgreSQL CPU 1.98 s, table 391 MB; reading back 0.49 s
--   S2 by the server   PostgreSQL CPU 0.35 s, table 156 MB; reading back 0.23 s
--                      (the server's CPU for S2: 0.65 s, on the other core)
-- PostgreSQL's cost is per byte through TOAST, whoever compresses: the
-- server compressing leaves the database a fifth of the work.
ALTER TABLE import_staging ADD COLUMN codec text CHECK (codec IN ('s2'));
ALTER TABLE import_staging ALTER COLUMN raw SET STORAGE EXTERNAL;
