package catalog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/testenv"
)

// TestStoredKeys: a record's key rows are the keys of its stored MARC; for
// MARC that does not decode, they are the rows record_keys holds for it.
func TestStoredKeys(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `INSERT INTO record_keys (record_id, institution, kind, value) VALUES (5, 'DEMO', '001', '|hand'), (6, 'DEMO', '001', '|other')`)
	require.NoError(t, err)

	rec := rec(marc.Field{Tag: "001", Value: "ocm1"}, df("245", "a", "T"))
	stored, err := marc.Marshal(rec)
	require.NoError(t, err)
	keys, err := catalog.StoredKeys(ctx, tx, 5, stored)
	require.NoError(t, err)
	require.Equal(t, catalog.Keys(rec), keys, "the keys of the MARC, not the rows")

	keys, err = catalog.StoredKeys(ctx, tx, 5, []byte("not MARC"))
	require.NoError(t, err)
	require.Equal(t, []catalog.Key{{Kind: "001", Value: "|hand"}}, keys)
	keys, err = catalog.StoredKeys(ctx, tx, 7, []byte("not MARC"))
	require.NoError(t, err)
	require.NotNil(t, keys)
	require.Empty(t, keys)
}
