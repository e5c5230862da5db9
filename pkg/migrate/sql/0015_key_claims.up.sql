-- Metadata Import: a new record's match keys claim themselves.
--
-- Until now a chunk about to create records claimed their match keys in
-- record_key_claims (insert, delete, look the keys up again: three
-- statements and as much index work as writing the keys), so that two
-- chunks creating a record with the same key could not both create it.
-- Now the key row is the claim: claimed_for is the record type ('bib',
-- 'authority') when an import created the record with this key, found no
-- live record of that type holding it, and claimed it; NULL otherwise
-- (other keys, records made as intended duplicates, keys written by merges,
-- reverts and anything else). The unique index allows one claim per key and
-- record type, and NULLs never collide, so record_keys stays free to hold a
-- key on many records. A chunk creating a record with a key that another
-- transaction is creating waits for it, then fails with a unique violation,
-- and decides again with that record in the catalog (see
-- workers/metadataimport). The same index is the match index.
ALTER TABLE record_keys ADD COLUMN claimed_for text COLLATE "C";
CREATE UNIQUE INDEX record_keys_claim ON record_keys (institution, kind, value, claimed_for);
DROP INDEX record_keys_match;
DROP TABLE record_key_claims;

-- Writes that set change_xid themselves (an import's merges and overlays)
-- skip the trigger: a PL/pgSQL call per row was ~10% of such an UPDATE.
DROP TRIGGER records_touch ON records;
CREATE TRIGGER records_touch BEFORE UPDATE ON records
    FOR EACH ROW WHEN (NEW.change_xid = OLD.change_xid) EXECUTE FUNCTION records_touch();
