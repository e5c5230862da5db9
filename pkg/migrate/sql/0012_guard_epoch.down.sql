DROP TRIGGER guard_claims_sync ON jobs;
DROP FUNCTION guard_claims_sync();
DROP TABLE guard_claims;
ALTER TABLE jobs DROP COLUMN conflicts_with;
ALTER TABLE jobs DROP COLUMN guard_epoch;
DROP TABLE guard_epoch;
