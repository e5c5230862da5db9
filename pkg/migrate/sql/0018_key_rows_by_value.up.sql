-- Metadata Import: fewer writes per record (issue 5).
--
-- record_keys loses its index on record_id. A record's key rows are always
-- catalog.Keys of its stored MARC (every writer of records.marc writes
-- them so: the import, its revert), so whoever knows a record's MARC knows
-- its key rows, and finds each through record_keys_claim (institution,
-- kind, value). The import reads the candidates' MARC anyway; a revert
-- reads the record it restores. The index cost a random btree insert per
-- key: measured, COPY of 600,000 key rows (200,000 new records) took 1.72 s
-- of PostgreSQL CPU with it, 1.13 s without.
-- A change to how keys are extracted must come with a migration that
-- rewrites record_keys (as it must anyway: lookups use the new extraction).
DROP INDEX record_keys_record;

-- The records_touch trigger (change_xid on every UPDATE, for publishing)
-- runs after the row is written, not before. A BEFORE ROW trigger makes
-- PostgreSQL lock each row it updates before updating it (a tuple lock and
-- its WAL record, ~10% of an import's merge UPDATE) even when its WHEN
-- clause then skips it. After: writers that set change_xid themselves (the
-- import, its revert) pay nothing; any other UPDATE gets change_xid set by
-- a second UPDATE of the row. The WHEN clause stops at the second update
-- (its change_xid is the transaction's own).
DROP TRIGGER records_touch ON records;
CREATE OR REPLACE FUNCTION records_touch_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE records SET change_xid = pg_current_xact_id() WHERE id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER records_touch AFTER UPDATE ON records
    FOR EACH ROW WHEN (NEW.change_xid = OLD.change_xid AND NEW.change_xid <> pg_current_xact_id())
    EXECUTE FUNCTION records_touch_after();
