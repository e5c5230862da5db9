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
