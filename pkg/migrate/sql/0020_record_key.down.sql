CREATE UNIQUE INDEX record_keys_claim_cols ON record_keys (institution, kind, value, claimed_for);
DROP INDEX record_keys_claim;
ALTER INDEX record_keys_claim_cols RENAME TO record_keys_claim;
DROP FUNCTION record_key(text, text, text);
