package metadataimport_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/importrevert"
)

// revert runs an import-revert job of target through the kind; it returns
// the counters, or the planning error (a refusal).
func revert(t *testing.T, db *testenv.Database, target int64) (map[string]int64, error) {
	t.Helper()
	ctx := context.Background()
	store := jobs.NewStore(db.Pool)
	_, err := db.Pool.Exec(ctx, `UPDATE jobs SET status = 'COMPLETED_SUCCESS' WHERE id = $1 AND status = 'QUEUED'`, target)
	require.NoError(t, err)
	job, err := store.Insert(ctx, jobs.NewJob{Institution: institution, Type: importrevert.TypeID, SubmittedBy: "test",
		Params: map[string]any{"job": target}, PriorityClass: "default"}, nil)
	require.NoError(t, err)
	job, err = store.Get(ctx, job.ID) // params as the engine sees them (JSON numbers)
	require.NoError(t, err)
	kind := importrevert.Kind{}
	if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Plan(ctx, tx, job, 100) }); err != nil {
		return nil, err
	}
	chunks, err := store.JobChunks(ctx, job.ID, "pending")
	require.NoError(t, err)
	counters := map[string]int64{}
	for _, c := range chunks {
		var res jobs.ChunkResult
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Process(ctx, tx, job, c, &res) }))
		for k, v := range res.Counters {
			counters[k] += v
		}
	}
	_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = 'COMPLETED_SUCCESS' WHERE id = $1`, job.ID)
	require.NoError(t, err)
	return counters, nil
}

func TestRevertRestoresTheCatalog(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	overlay := profile(t, "vendor-bibs", func(p *config.ImportProfile) { p.OnSingleMatch, p.Merge = "overlay", config.MergeRules{} })
	merge := profile(t, "vendor-bibs", nil)

	first := importFile(t, db, overlay, "jazz_1k.mrc", false)
	require.Equal(t, int64(1000), first.counters["imported"])
	afterFirst := snapshot(t, db)

	// A second import merges into all 1,000 records and adds 100 new ones.
	second := importFile(t, db, merge, "jazz_1k.mrc", false)
	require.Equal(t, int64(1000), second.counters["merged"])
	third := importFile(t, db, merge, "lul_fre_100.mrc", false)
	require.Equal(t, int64(100), third.counters["imported"])

	got, err := revert(t, db, third.jobID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{importrevert.Deleted: 100}, got)
	// Deleted records stay as tombstones (publishing publishes the deletion),
	// without match keys, so no later import matches them.
	require.Equal(t, int64(100), count(t, db, `SELECT count(*) FROM records WHERE deleted AND created_by_job = $1`, third.jobID))
	require.Zero(t, count(t, db, `SELECT count(*) FROM record_keys k JOIN records r ON r.id = k.record_id WHERE r.deleted`))
	got, err = revert(t, db, second.jobID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{importrevert.Restored: 1000}, got)
	require.Equal(t, afterFirst, snapshot(t, db), "same records, bytes and keys as before the second import")
	requireKeysOfRecords(t, db)
	require.Zero(t, count(t, db, `SELECT count(*) FROM record_versions v WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = v.record_id)`),
		"no version is left without its record")

	// Reverting either again: nothing left to revert, said so (not "population empty", not "changed by a later job").
	for _, x := range []int64{third.jobID, second.jobID} {
		_, err = revert(t, db, x)
		var nothing *jobs.NothingToDo
		require.ErrorAs(t, err, &nothing)
		require.Regexp(t, fmt.Sprintf(`^nothing left to revert: job %d was already reverted by job \d+$`, x), nothing.Reason)
	}

	// The first import's records were changed since (by the revert): refused, naming them.
	_, err = revert(t, db, first.jobID)
	require.ErrorContains(t, err, "refused: records changed by a later job since job")
	require.Equal(t, int64(1000), count(t, db, `SELECT count(*) FROM records WHERE NOT deleted`), "a refused revert changes nothing")
}

func TestRevertRefusesWhatItCannotUndo(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	dry := importFile(t, db, profile(t, "vendor-bibs", nil), "lul_fre_100.mrc", true)
	_, err := revert(t, db, dry.jobID)
	require.ErrorContains(t, err, "was a dry run")
	_, err = revert(t, db, 999999)
	require.ErrorContains(t, err, "job 999999 not found")

	// An import that created and changed nothing (a re-run with skip).
	skip := profile(t, "vendor-bibs", func(p *config.ImportProfile) { p.OnSingleMatch, p.Merge = "skip", config.MergeRules{} })
	importFile(t, db, skip, "jazz_1k.mrc", false)
	again := importFile(t, db, skip, "jazz_1k.mrc", false)
	require.Equal(t, int64(1000), again.counters["skipped"])
	_, err = revert(t, db, again.jobID)
	var nothing *jobs.NothingToDo
	require.ErrorAs(t, err, &nothing)
	require.Equal(t, fmt.Sprintf("nothing to revert: job %d created or changed no record", again.jobID), nothing.Reason)
}
