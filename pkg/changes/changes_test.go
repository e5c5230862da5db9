package changes_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/changes"
	"github.com/bindery/bindery/pkg/testenv"
)

// TestWriteRead: a chunk's row reads back as written (versions of any
// length, an empty one included); a row that does not hold what its arrays
// say is an error naming the job and chunk, not versions made up.
func TestWriteRead(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	chunks := []*changes.Chunk{
		{JobID: 7, Seq: 0, Created: []int64{1, 2}},
		{JobID: 7, Seq: 1, Created: []int64{3}, Changed: []changes.Version{
			{RecordID: 10, Version: 1, MARC: []byte("00026     2200025   4500\x1e\x1d")},
			{RecordID: 11, Version: 4, MARC: []byte{}},
			{RecordID: 12, Version: 2, MARC: []byte("x\x1dy")},
		}},
	}
	for _, c := range chunks {
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return changes.Write(ctx, tx, c) }))
	}
	got, err := changes.ReadJob(ctx, db.Pool, 7)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, chunks[0].Created, got[0].Created)
	require.Empty(t, got[0].Changed)
	require.Equal(t, chunks[1].Created, got[1].Created)
	require.Len(t, got[1].Changed, 3)
	for i, v := range chunks[1].Changed {
		require.Equal(t, v.RecordID, got[1].Changed[i].RecordID)
		require.Equal(t, v.Version, got[1].Changed[i].Version)
		require.Equal(t, string(v.MARC), string(got[1].Changed[i].MARC))
	}
	one, err := changes.ReadChunk(ctx, db.Pool, 7, 1)
	require.NoError(t, err)
	require.Equal(t, 1, one.Seq)
	none, err := changes.ReadChunk(ctx, db.Pool, 7, 2)
	require.NoError(t, err)
	require.Nil(t, none)

	for _, bad := range []string{
		`UPDATE import_changes SET lengths = '{26, 0, 4}' WHERE chunk_seq = 1`, // more bytes than there are
		`UPDATE import_changes SET versions = '{1}' WHERE chunk_seq = 1`,
		`UPDATE import_changes SET marc = substring(marc for 5) WHERE chunk_seq = 1`,
	} {
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, bad)
		require.NoError(t, err)
		_, err = changes.ReadChunk(ctx, tx, 7, 1)
		require.ErrorContains(t, err, "import_changes of job 7, chunk 1", bad)
		require.NoError(t, tx.Rollback(ctx))
	}
}
