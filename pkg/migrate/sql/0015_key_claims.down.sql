DROP TRIGGER records_touch ON records;
CREATE TRIGGER records_touch BEFORE UPDATE ON records
    FOR EACH ROW EXECUTE FUNCTION records_touch();

CREATE UNLOGGED TABLE record_key_claims (
    institution text COLLATE "C" NOT NULL,
    kind        text COLLATE "C" NOT NULL,
    value       text COLLATE "C" NOT NULL,
    PRIMARY KEY (institution, kind, value)
);
CREATE INDEX record_keys_match ON record_keys (institution, kind, value);
DROP INDEX record_keys_claim;
ALTER TABLE record_keys DROP COLUMN claimed_for;
