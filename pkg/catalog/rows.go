package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/marc"
)

// StoredKeys are a catalog record's rows in record_keys, given its id and
// its stored MARC: the keys of that MARC (every writer of records.marc
// writes its key rows so, migration 0018), or, for a record that does not
// decode (written by hand), the rows themselves, found the slow way (there
// is no index on record_id). Metadata Import and Revert Import both rewrite
// key rows by this rule.
func StoredKeys(ctx context.Context, tx pgx.Tx, id int64, stored []byte) ([]Key, error) {
	if rec, err := marc.Unmarshal(stored); err == nil {
		return append([]Key{}, Keys(rec)...), nil
	}
	rows, err := tx.Query(ctx, `SELECT kind, value FROM record_keys WHERE record_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("keys of catalog record %d: %w", id, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Key])
	if err != nil {
		return nil, fmt.Errorf("keys of catalog record %d: %w", id, err)
	}
	return append([]Key{}, keys...), nil
}
