DROP TRIGGER records_touch ON records;
DROP FUNCTION records_touch_after();
CREATE TRIGGER records_touch BEFORE UPDATE ON records
    FOR EACH ROW WHEN (NEW.change_xid = OLD.change_xid) EXECUTE FUNCTION records_touch();
CREATE INDEX record_keys_record ON record_keys (record_id);
