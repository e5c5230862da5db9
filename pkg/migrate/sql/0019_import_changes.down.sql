-- The versions kept since this migration are compressed (S2), which SQL
-- cannot read back into record_versions: refuse rather than lose what
-- reverting those imports needs. To roll back anyway, first
-- DELETE FROM import_changes WHERE codec IS NOT NULL (those imports can
-- then no longer be reverted).
DO $$
BEGIN
    IF EXISTS (SELECT FROM import_changes WHERE codec IS NOT NULL) THEN
        RAISE EXCEPTION 'import_changes holds the previous versions of imports made since migration 0019, compressed; rolling back would lose them (see 0019_import_changes.down.sql)';
    END IF;
END
$$;
CREATE INDEX records_created_by_job ON records (created_by_job) WHERE created_by_job IS NOT NULL;
DROP TABLE import_changes;
