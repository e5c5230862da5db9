package migrate_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/migrate"
	"github.com/bindery/bindery/pkg/testenv"
)

// TestDownAndUpAgain: every down migration undoes its up exactly, so the
// whole series can be rolled back and re-applied.
func TestDownAndUpAgain(t *testing.T) {
	db := testenv.NewDatabase(t) // applied every migration
	ctx := context.Background()
	all, err := migrate.All()
	require.NoError(t, err)

	again, err := migrate.Up(ctx, db.Pool)
	require.NoError(t, err)
	require.Empty(t, again, "up is idempotent")

	down, err := migrate.Down(ctx, db.Pool, len(all))
	require.NoError(t, err)
	require.Len(t, down, len(all))
	var tables int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`).Scan(&tables))
	require.Zero(t, tables, "down leaves no table behind")

	states, err := migrate.Status(ctx, db.Pool)
	require.NoError(t, err)
	for _, s := range states {
		require.Nil(t, s.AppliedAt, "migration %d", s.Version)
	}
	up, err := migrate.Up(ctx, db.Pool)
	require.NoError(t, err)
	require.Len(t, up, len(all))
}

// TestRecordsTouch: an UPDATE of records that does not set change_xid gets
// it set to its transaction (publishing's incremental boundary depends on
// it, migration 0018), however often the row is updated in it; one that
// sets it is left as it is, written once.
func TestRecordsTouch(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	var id int64
	var created string
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO records (institution, record_type, marc) VALUES ('main', 'bib', '')
		RETURNING id, change_xid::text`).Scan(&id, &created))

	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	var xid, changed string
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid))
	require.NotEqual(t, created, xid)
	for range 3 {
		_, err = tx.Exec(ctx, `UPDATE records SET title = title || 'x' WHERE id = $1`, id)
		require.NoError(t, err)
		require.NoError(t, tx.QueryRow(ctx, `SELECT change_xid::text FROM records WHERE id = $1`, id).Scan(&changed))
		require.Equal(t, xid, changed)
	}
	require.NoError(t, tx.Commit(ctx))

	// A writer that sets change_xid itself: one new row version, no second
	// UPDATE from the trigger (the row's ctid moves once).
	var before, after string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT ctid::text FROM records WHERE id = $1`, id).Scan(&before))
	require.NoError(t, db.Pool.QueryRow(ctx, `WITH u AS (UPDATE records SET title = 'y', change_xid = pg_current_xact_id()
		WHERE id = $1 RETURNING ctid) SELECT ctid::text FROM u`, id).Scan(&after))
	var now string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT ctid::text FROM records WHERE id = $1`, id).Scan(&now))
	require.NotEqual(t, before, after)
	require.Equal(t, after, now, "written once")
}
