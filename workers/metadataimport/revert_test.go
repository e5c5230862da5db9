package metadataimport_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/migrate"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/importrevert"
	"github.com/bindery/bindery/workers/metadataimport"
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

// seededRecords are records from..from+n-1 of a file `bindery seed marc`
// would make from templates: a record's 001, 035 and ISBN depend on its
// number only, so other templates give the same records other content.
func seededRecords(t *testing.T, from, n int64, templates []*marc.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := seed.WriteMARC(&buf, templates, from+n-1)
	require.NoError(t, err)
	recs := bytes.SplitAfter(buf.Bytes(), []byte{0x1D})
	return bytes.Join(recs[from-1:from-1+n], nil)
}

// TestRevertOfRecordsChangedTwice: records one import changes in two of its
// chunks keep one version, the one from before the import; records it
// creates in one chunk and merges into in a later one are deleted. The
// revert gives back the catalog as it was.
func TestRevertOfRecordsChangedTwice(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	templates, err := seed.LoadTemplates("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	file := func(from, n int64, templates []*marc.Record) []byte { return seededRecords(t, from, n, templates) }
	p := profile(t, "vendor-bibs", nil)
	pre := importReader(t, db, p, bytes.NewReader(file(1, 50, templates[:100])), false)
	require.Equal(t, int64(50), pre.counters["imported"])
	before := snapshot(t, db)

	// Chunks of 100: [1-50 merged, 51-100 new], [101-150 new, 1-50 merged
	// again], [51-100 merged into the records the first chunk created]; the
	// second round's content differs from the first's.
	again := file(1, 100, templates[200:300])
	r := importReader(t, db, p, bytes.NewReader(append(file(1, 150, templates[100:200]), again...)), false)
	require.Equal(t, map[string]int64{"records_in_file": 250, "imported": 100, "merged": 150}, r.counters)
	kept := versions(t, db, r.jobID)
	require.Len(t, kept, 50, "one version each, of the 50 records that were there before")
	for _, v := range kept {
		require.Equal(t, 1, v.Version)
	}
	require.EqualValues(t, 150, count(t, db, `SELECT count(*) FROM records WHERE job_id = $1`, r.jobID))

	got, err := revert(t, db, r.jobID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{importrevert.Deleted: 100, importrevert.Restored: 50}, got)
	require.Equal(t, before, snapshot(t, db), "the catalog as before the import")
	requireKeysOfRecords(t, db)
}

// TestRevertOfAnImportMadeBeforeImportChanges: migration 0019 carries the
// imports made before it (versions in record_versions, created records by
// records.created_by_job) into import_changes, so they can be reverted.
func TestRevertOfAnImportMadeBeforeImportChanges(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	p := profile(t, "vendor-bibs", nil)
	importFile(t, db, p, "jazz_1k.mrc", false)
	before := snapshot(t, db)
	second := importFile(t, db, p, "jazz_1k.mrc", false)
	third := importFile(t, db, p, "lul_fre_100.mrc", false)
	require.Equal(t, int64(1000), second.counters["merged"])
	require.Equal(t, int64(100), third.counters["imported"])

	// As the imports before 0019 kept them: a version row per merge.
	for _, x := range []int64{second.jobID, third.jobID} {
		for _, v := range versions(t, db, x) {
			_, err := db.Pool.Exec(ctx, `INSERT INTO record_versions (record_id, version, job_id, marc) VALUES ($1, $2, $3, $4)`,
				v.RecordID, v.Version, x, v.MARC)
			require.NoError(t, err)
		}
	}
	// Down to just after 0019, then 0019 itself.
	all, err := migrate.All()
	require.NoError(t, err)
	_, err = migrate.Down(ctx, db.Pool, all[len(all)-1].Version-19)
	require.NoError(t, err)
	_, err = migrate.Down(ctx, db.Pool, 1)
	require.ErrorContains(t, err, "rolling back would lose them", "refused while compressed versions are kept")
	_, err = db.Pool.Exec(ctx, `DELETE FROM import_changes WHERE codec IS NOT NULL`)
	require.NoError(t, err)
	_, err = migrate.Down(ctx, db.Pool, 1)
	require.NoError(t, err)
	require.Zero(t, count(t, db, `SELECT count(*) FROM pg_tables WHERE tablename = 'import_changes'`))
	_, err = migrate.Up(ctx, db.Pool)
	require.NoError(t, err)
	require.EqualValues(t, 1000, count(t, db, versionsKept), "the merges' versions, carried over")
	require.Zero(t, count(t, db, `SELECT count(*) FROM import_changes WHERE chunk_seq >= 0`),
		"carried over under seqs no chunk writes (an import running through the upgrade keeps its own)")
	require.EqualValues(t, 1100, count(t, db, `SELECT coalesce(sum(cardinality(created)), 0) FROM import_changes`), "the records the first and third imports created")

	got, err := revert(t, db, third.jobID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{importrevert.Deleted: 100}, got)
	got, err = revert(t, db, second.jobID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{importrevert.Restored: 1000}, got)
	require.Equal(t, before, snapshot(t, db))
}

// TestRevertRefusesRecordsChangedBetweenItsChunks: another import changed
// records between two chunks of an import (J's first chunk merges into
// them, J2 merges, J's second chunk merges again). J kept two versions of
// each, and neither gives the catalog back: the revert of J refuses, naming
// them, and changes nothing.
func TestRevertRefusesRecordsChangedBetweenItsChunks(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	templates, err := seed.LoadTemplates("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	file := func(n int64, templates []*marc.Record) []byte { return seededRecords(t, 1, n, templates) }
	p := profile(t, "vendor-bibs", nil)
	require.Equal(t, int64(50), importReader(t, db, p, bytes.NewReader(file(50, templates[:100])), false).counters["imported"])

	// J: two chunks of 100, records 1-50 in both (other content each time).
	data := append(file(100, templates[100:200]), file(100, templates[200:300])...)
	job, chunks := plannedJob(t, db, p, bytes.NewReader(data), false, 100)
	kind := metadataimport.Kind{}
	require.Len(t, chunks, 2)
	process := func(c jobs.Chunk) {
		var res jobs.ChunkResult
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Process(ctx, tx, job, c, &res) }))
	}
	process(chunks[0])
	j2 := importReader(t, db, p, bytes.NewReader(file(50, templates[300:400])), false)
	require.Equal(t, int64(50), j2.counters["merged"])
	process(chunks[1])
	_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = 'COMPLETED_SUCCESS' WHERE id = ANY($1)`, []int64{job.ID, j2.jobID})
	require.NoError(t, err)
	before := snapshot(t, db)

	_, err = revert(t, db, job.ID)
	require.ErrorContains(t, err, fmt.Sprintf("refused: records changed by another job while job %d ran (between two of its chunks): ", job.ID))
	require.Equal(t, before, snapshot(t, db), "a refused revert changes nothing")
}
