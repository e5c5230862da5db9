package sets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/staging"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/metadataimport"
)

const inst = "DEMO"

// importFile loads a test file into the catalog through the real Metadata
// Import (staged, planned, every chunk processed), as the engine drives it.
func importFile(t *testing.T, db *testenv.Database, institution, profileID, file string) {
	t.Helper()
	ctx := context.Background()
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	p, ok := c.ImportProfile(profileID, institution)
	require.True(t, ok)
	f, err := os.Open(filepath.Join("../../testdata/marc", file))
	require.NoError(t, err)
	defer f.Close()
	store := jobs.NewStore(db.Pool)
	var job *jobs.Job
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		job, err = store.InsertTx(ctx, tx, jobs.NewJob{Institution: institution, Type: metadataimport.TypeID,
			SubmittedBy: "test", Params: map[string]any{"profile": p.ID, "dry_run": false}, PriorityClass: "default"}, nil)
		if err != nil {
			return err
		}
		_, err = staging.Stage(ctx, tx, job.ID, f, p, 500)
		return err
	}))
	kind := metadataimport.Kind{}
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Plan(ctx, tx, job, 500) }))
	chunks, err := store.JobChunks(ctx, job.ID, "pending")
	require.NoError(t, err)
	for _, ch := range chunks {
		var res jobs.ChunkResult
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Process(ctx, tx, job, ch, &res) }))
	}
}

func count(t *testing.T, db *testenv.Database, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func ids(t *testing.T, db *testenv.Database, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return out
}

// newJob inserts a bare job to own a snapshot.
func newJob(t *testing.T, db *testenv.Database) int64 {
	t.Helper()
	j, err := jobs.NewStore(db.Pool).Insert(context.Background(), jobs.NewJob{Institution: inst, Type: "noop",
		SubmittedBy: "test", Params: map[string]any{}, PriorityClass: "default"}, nil)
	require.NoError(t, err)
	return j.ID
}

// snapshot takes a job's snapshot of a set and returns its member ids in ord order.
func snapshot(t *testing.T, db *testenv.Database, setID int64) []int64 {
	t.Helper()
	ctx := context.Background()
	job := newJob(t, db)
	var n int64
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		n, err = sets.Snapshot(ctx, tx, inst, setID, job)
		return err
	}))
	got := ids(t, db, `SELECT member_id FROM job_set_members WHERE job_id = $1 ORDER BY ord`, job)
	require.Len(t, got, int(n))
	// ord is 1..n without gaps.
	require.Equal(t, n, count(t, db, `SELECT coalesce(max(ord), 0) FROM job_set_members WHERE job_id = $1`, job))
	return got
}

func idFile(lines ...string) *strings.Reader {
	return strings.NewReader(strings.Join(lines, "\n") + "\n")
}
