package metadataimport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/changes"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/staging"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/metadataimport"
)

const institution = "DEMO"

func profile(t *testing.T, id string, edit func(*config.ImportProfile)) *config.ImportProfile {
	t.Helper()
	c, err := config.Parse("bindery.yaml", shipped.Default)
	require.NoError(t, err)
	p, ok := c.ImportProfile(id, institution)
	require.True(t, ok)
	cp := *p
	if edit != nil {
		edit(&cp)
	}
	return &cp
}

// run is one import job driven through the kind the way the engine and the
// worker drive it: the file staged with the job in one transaction, the
// plan, then every chunk in its own transaction. It returns the counters
// and the report rows.
type run struct {
	jobID    int64
	counters map[string]int64
	rows     []jobs.ReportRow
}

func importFile(t *testing.T, db *testenv.Database, p *config.ImportProfile, file string, dryRun bool) run {
	t.Helper()
	f, err := os.Open(filepath.Join("../../testdata/marc", file))
	require.NoError(t, err)
	defer f.Close()
	return importReader(t, db, p, f, dryRun)
}

func importReader(t *testing.T, db *testenv.Database, p *config.ImportProfile, f io.Reader, dryRun bool) run {
	t.Helper()
	ctx := context.Background()
	job, chunks := plannedJob(t, db, p, f, dryRun, 100)
	kind := metadataimport.Kind{}
	out := run{jobID: job.ID, counters: map[string]int64{}}
	for _, c := range chunks {
		var res jobs.ChunkResult
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			return kind.Process(ctx, tx, job, c, &res)
		}))
		for k, v := range res.Counters {
			out.counters[k] += v
		}
		out.rows = append(out.rows, res.Rows...)
	}
	return out
}

// plannedJob submits an import of f with the profile, stages it and plans
// it in chunks of chunkSize, and returns the job and its pending chunks.
func plannedJob(t *testing.T, db *testenv.Database, p *config.ImportProfile, f io.Reader, dryRun bool, chunkSize int) (*jobs.Job, []jobs.Chunk) {
	t.Helper()
	ctx := context.Background()
	store := jobs.NewStore(db.Pool)
	var job *jobs.Job
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		job, err = store.InsertTx(ctx, tx, jobs.NewJob{Institution: institution, Type: metadataimport.TypeID,
			SubmittedBy: "test", Params: map[string]any{"profile": p.ID, "dry_run": dryRun}, PriorityClass: "default"}, nil)
		if err != nil {
			return err
		}
		_, err = staging.Stage(ctx, tx, job.ID, f, p, chunkSize)
		return err
	}))
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return metadataimport.Kind{}.Plan(ctx, tx, job, chunkSize)
	}))
	chunks, err := store.JobChunks(ctx, job.ID, "pending")
	require.NoError(t, err)
	return job, chunks
}

// seededFile is a file of n records replicated from jazz_1k.mrc, each with
// its own 001, 035 and ISBN (bindery seed marc).
func seededFile(t *testing.T, n int64) []byte {
	t.Helper()
	templates, err := seed.LoadTemplates("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = seed.WriteMARC(&buf, templates, n)
	require.NoError(t, err)
	return buf.Bytes()
}

func count(t *testing.T, db *testenv.Database, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// versionsKept counts the previous versions kept by every import.
const versionsKept = `SELECT coalesce(sum(cardinality(changed)), 0) FROM import_changes`

// versions are the previous versions the import jobID kept, by record id.
func versions(t *testing.T, db *testenv.Database, jobID int64) map[int64]changes.Version {
	t.Helper()
	kept, err := changes.ReadJob(context.Background(), db.Pool, jobID)
	require.NoError(t, err)
	out := map[int64]changes.Version{}
	for _, c := range kept {
		for _, v := range c.Changed {
			_, twice := out[v.RecordID]
			require.False(t, twice, "record %d kept twice", v.RecordID)
			out[v.RecordID] = v
		}
	}
	return out
}

func TestImportCountsPerFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file, profile string
		want          map[string]int64
	}{
		{"jazz_1k.mrc", "vendor-bibs", map[string]int64{"records_in_file": 1000, "imported": 1000}},
		{"lul_fre_100.mrc", "vendor-bibs", map[string]int64{"records_in_file": 100, "imported": 100}},
		{"concerto_bibs.xml", "vendor-bibs", map[string]int64{"records_in_file": 100, "imported": 100}},
		{"concerto_authorities.xml", "authorities", map[string]int64{"records_in_file": 72, "imported": 72}},
		{"bad_records.mrc", "vendor-bibs", map[string]int64{"records_in_file": 8, "imported": 7, "rejected": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			db := testenv.NewDatabase(t)
			r := importFile(t, db, profile(t, tc.profile, nil), tc.file, false)
			require.Equal(t, tc.want, r.counters)
			require.Len(t, r.rows, int(tc.want["records_in_file"]))
			require.Equal(t, tc.want["imported"], count(t, db, `SELECT count(*) FROM records WHERE institution = $1`, institution))
			for _, row := range r.rows {
				if row.Outcome == jobs.OutcomeError {
					require.Contains(t, row.Message, "rejected: ")
				} else {
					require.Contains(t, row.Message, "imported as 99")
				}
			}
		})
	}
}

func TestBadRecordsRejectedWithReason(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	r := importFile(t, db, profile(t, "vendor-bibs", nil), "bad_records.mrc", false)
	var rejected []jobs.ReportRow
	for _, row := range r.rows {
		if row.Outcome == jobs.OutcomeError {
			rejected = append(rejected, row)
		}
	}
	require.Len(t, rejected, 1)
	require.Equal(t, "7", rejected[0].RecordID, "the 7th record (no 001) has no fields at all")
	require.Equal(t, "rejected: invalid: no 245 (title) field", rejected[0].Message)
	// Recovered records say what was recovered.
	require.Contains(t, r.rows[1].Message, "recovered: ")
}

func TestReimportSkipCreatesNothing(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	skip := profile(t, "vendor-bibs", func(p *config.ImportProfile) {
		p.OnSingleMatch, p.Merge = "skip", config.MergeRules{}
	})
	first := importFile(t, db, skip, "jazz_1k.mrc", false)
	require.Equal(t, int64(1000), first.counters["imported"])
	again := importFile(t, db, skip, "jazz_1k.mrc", false)
	require.Equal(t, map[string]int64{"records_in_file": 1000, "skipped": 1000}, again.counters)
	require.Equal(t, int64(1000), count(t, db, `SELECT count(*) FROM records`))
	require.Zero(t, count(t, db, versionsKept))
	require.Equal(t, int64(1000), count(t, db, `SELECT count(*) FROM records WHERE version = 1`))
}

func TestReimportOverlayChangesOnlyVersions(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	overlay := profile(t, "vendor-bibs", func(p *config.ImportProfile) {
		p.OnSingleMatch, p.Merge = "overlay", config.MergeRules{}
	})
	first := importFile(t, db, overlay, "jazz_1k.mrc", false)
	require.Equal(t, int64(1000), first.counters["imported"])
	before := snapshot(t, db)
	again := importFile(t, db, overlay, "jazz_1k.mrc", false)
	require.Equal(t, map[string]int64{"records_in_file": 1000, "overlaid": 1000}, again.counters)
	require.Equal(t, before, snapshot(t, db), "same records, same bytes, same keys")
	require.Equal(t, int64(1000), count(t, db, `SELECT count(*) FROM records WHERE version = 2 AND job_id = $1`, again.jobID))
	kept := versions(t, db, again.jobID)
	require.Len(t, kept, 1000)
	rows, err := db.Pool.Query(context.Background(), `SELECT id, marc FROM records`)
	require.NoError(t, err)
	current, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		ID   int64
		MARC []byte
	}])
	require.NoError(t, err)
	for _, r := range current {
		require.Equal(t, 1, kept[r.ID].Version, "record %d", r.ID)
		require.Equal(t, r.MARC, kept[r.ID].MARC, "record %d: the version kept is the same bytes", r.ID)
	}
}

// snapshot is every record's id, bytes and keys.
func snapshot(t *testing.T, db *testenv.Database) string {
	t.Helper()
	var s string
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT md5(string_agg(r.id || ':' || encode(r.marc, 'hex') || ':' ||
			(SELECT string_agg(kind || '=' || value, ',' ORDER BY kind, value) FROM record_keys k WHERE k.record_id = r.id), '|' ORDER BY r.id))
		FROM records r WHERE NOT r.deleted`).Scan(&s))
	return s
}

func TestMergeKeepsAndTakesTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", nil) // keep 590 and 9XX from the existing record
	importFile(t, db, p, "lul_fre_100.mrc", false)

	// Staff add local fields to every record in the catalog.
	rows, err := db.Pool.Query(ctx, `SELECT id, marc FROM records`)
	require.NoError(t, err)
	type rec struct {
		id   int64
		marc []byte
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		return x, r.Scan(&x.id, &x.marc)
	})
	require.NoError(t, err)
	for _, x := range recs {
		m, err := marc.Unmarshal(x.marc)
		require.NoError(t, err)
		m.AddField(marc.Field{Tag: "590", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "local note"}}})
		m.AddField(marc.Field{Tag: "949", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "shelf 7"}}})
		m.RemoveFields("500")
		raw, err := marc.Marshal(m)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `UPDATE records SET marc = $2 WHERE id = $1`, x.id, raw)
		require.NoError(t, err)
	}

	r := importFile(t, db, p, "lul_fre_100.mrc", false)
	require.Equal(t, map[string]int64{"records_in_file": 100, "merged": 100}, r.counters)
	require.Contains(t, r.rows[0].Message, "merged into 99")

	withNote, with500 := 0, 0
	origin500 := 0
	f, err := os.Open("../../testdata/marc/lul_fre_100.mrc")
	require.NoError(t, err)
	defer f.Close()
	rd, err := marc.NewBinaryReader(f, nil)
	require.NoError(t, err)
	for {
		m, err := rd.Read()
		if err != nil {
			break
		}
		if len(m.FieldsByTag("500")) > 0 {
			origin500++
		}
	}
	for _, x := range recs {
		var raw []byte
		var version int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT marc, version FROM records WHERE id = $1`, x.id).Scan(&raw, &version))
		require.Equal(t, 2, version)
		m, err := marc.Unmarshal(raw)
		require.NoError(t, err)
		notes := m.FieldsByTag("590")
		if len(notes) == 1 {
			v, _ := notes[0].FirstSubfield('a')
			if v == "local note" {
				withNote++
			}
		}
		shelf := 0
		for _, f := range m.FieldsByTag("949") {
			if v, _ := f.FirstSubfield('a'); v == "shelf 7" {
				shelf++
			}
		}
		require.Equal(t, 1, shelf, "9XX kept from the existing record")
		if len(m.FieldsByTag("500")) > 0 {
			with500++
		}
	}
	require.Equal(t, 100, withNote, "590 kept from the existing record (the incoming one's replaced)")
	require.Equal(t, origin500, with500, "500 taken from the incoming record")
	require.Positive(t, origin500)
	require.Len(t, versions(t, db, r.jobID), 100)
}

func TestMultipleMatchesAndNoMatch(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	importAll := profile(t, "vendor-bibs", func(p *config.ImportProfile) {
		p.OnMultipleMatches = "import_new"
	})
	// Two copies of every record: imported twice by a profile that matches
	// on ISSN only (concerto has none), so nothing matches.
	never := profile(t, "vendor-bibs", func(p *config.ImportProfile) {
		p.Match, p.OnSingleMatch, p.Merge = []string{"issn"}, "skip", config.MergeRules{}
		p.OnMultipleMatches = "import_new"
	})
	importFile(t, db, never, "concerto_bibs.xml", false)
	importFile(t, db, never, "concerto_bibs.xml", false)
	require.Equal(t, int64(200), count(t, db, `SELECT count(*) FROM records`))

	multi := importFile(t, db, profile(t, "vendor-bibs", nil), "concerto_bibs.xml", false)
	require.Equal(t, map[string]int64{"records_in_file": 100, "multi_match": 100}, multi.counters)
	require.Equal(t, jobs.OutcomeWarning, multi.rows[0].Outcome)
	require.Regexp(t, `^matched 99\d+, 99\d+ on 001; skipped \(on_multiple_matches: skip\)$`, multi.rows[0].Message)

	dup := importFile(t, db, importAll, "concerto_bibs.xml", false)
	require.Equal(t, map[string]int64{"records_in_file": 100, "imported": 100}, dup.counters)
	require.Contains(t, dup.rows[0].Message, "on_multiple_matches: import_new")

	reject := profile(t, "vendor-bibs", func(p *config.ImportProfile) { p.OnNoMatch = "reject" })
	r := importFile(t, db, reject, "lul_fre_100.mrc", false)
	require.Equal(t, int64(100), r.counters["rejected"]+r.counters["merged"]+r.counters["multi_match"])
	require.Equal(t, int64(300), count(t, db, `SELECT count(*) FROM records`), "nothing imported")
	for _, row := range r.rows {
		if row.Outcome == jobs.OutcomeError {
			require.Equal(t, "rejected: no match (on_no_match: reject)", row.Message)
		}
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	r := importFile(t, db, profile(t, "vendor-bibs", nil), "jazz_1k.mrc", true)
	require.Equal(t, int64(1000), r.counters["imported"])
	require.Zero(t, count(t, db, `SELECT count(*) FROM records`))
	require.True(t, strings.HasPrefix(r.rows[0].Message, "would be imported"))
}

func TestPlanWithoutFileFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	job, err := store.Insert(ctx, jobs.NewJob{Institution: institution, Type: metadataimport.TypeID,
		SubmittedBy: "test", Params: map[string]any{"profile": "vendor-bibs"}, PriorityClass: "default"}, nil)
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return metadataimport.Kind{}.Plan(ctx, tx, job, 100)
	})
	require.ErrorIs(t, err, metadataimport.ErrNoFile)
}

// TestConcurrentChunksCreateOnce: two chunks holding the same record run at
// once; the one that comes second waits on the first's claim on its match
// keys, loses the race, and merges into the record the first created
// instead of creating it again.
func TestConcurrentChunksCreateOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", nil)
	buf := seededFile(t, 3)
	first, err := strconv.Atoi(string(buf[:5])) // leader/00-04: record length
	require.NoError(t, err)
	file := append(bytes.Clone(buf), buf[:first]...) // records 1, 2, 3, 1

	job, chunks := plannedJob(t, db, p, bytes.NewReader(file), false, 2)
	kind := metadataimport.Kind{}
	require.Len(t, chunks, 2)

	tx1, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx1.Rollback(ctx) //nolint:errcheck
	var res1, res2 jobs.ChunkResult
	require.NoError(t, kind.Process(ctx, tx1, job, chunks[0], &res1))
	done := make(chan error, 1)
	go func() {
		done <- pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Process(ctx, tx, job, chunks[1], &res2) })
	}()
	testenv.Eventually(t, 10*time.Second, "the second chunk to wait on the first one's claims", func() bool {
		return count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE '%record_keys%'`) > 0
	})
	require.NoError(t, tx1.Commit(ctx))
	require.NoError(t, <-done)

	require.Equal(t, map[string]int64{"records_in_file": 2, "imported": 2}, res1.Counters)
	require.Equal(t, map[string]int64{"records_in_file": 2, "imported": 1, "merged": 1}, res2.Counters)
	require.EqualValues(t, 3, count(t, db, `SELECT count(*) FROM records WHERE institution = $1`, institution))
	require.EqualValues(t, 3, count(t, db, `SELECT count(*) FROM record_keys WHERE kind = '001' AND claimed_for = 'bib'`),
		"each record claims its 001")
}

// TestDryRunDiff: a dry run reports, for each merge, the fields it would
// remove and add, and changes nothing.
func TestDryRunDiff(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	templates, err := seed.LoadTemplates("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	// Record i of both files has the same 001, 035 and ISBN, from another template.
	var a, b bytes.Buffer
	_, err = seed.WriteMARC(&a, templates[:5], 5)
	require.NoError(t, err)
	_, err = seed.WriteMARC(&b, templates[5:10], 5)
	require.NoError(t, err)
	p := profile(t, "vendor-bibs", nil)
	require.Equal(t, int64(5), importReader(t, db, p, &a, false).counters["imported"])
	before := count(t, db, `SELECT sum(version) FROM records`)

	r := importReader(t, db, p, &b, true)
	require.Equal(t, map[string]int64{"records_in_file": 5, "merged": 5}, r.counters)
	require.Equal(t, before, count(t, db, `SELECT sum(version) FROM records`), "a dry run changes nothing")
	require.Zero(t, count(t, db, versionsKept))
	title := func(r *marc.Record) string { return catalog.FieldString(r.FirstField("245")) }
	for i, row := range r.rows {
		require.Contains(t, row.Message, "would be merged into 99")
		require.Contains(t, row.Message, "-"+title(templates[i]), "row %d", i)
		require.Contains(t, row.Message, "+"+title(templates[5+i]), "row %d", i)
	}
	t.Log(r.rows[0].Message)
}

// requireKeysOfRecords: every live record's rows in record_keys are exactly
// the keys of its current MARC (catalog.Keys), and no key row is left without
// its record (tombstones keep none: no import may match them).
func requireKeysOfRecords(t *testing.T, db *testenv.Database) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `SELECT r.marc, coalesce((SELECT string_agg(kind || '=' || value, ',' ORDER BY kind, value)
		FROM record_keys k WHERE k.record_id = r.id), '') FROM records r WHERE NOT r.deleted ORDER BY r.id`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var raw []byte
		var stored string
		require.NoError(t, rows.Scan(&raw, &stored))
		rec, err := marc.Unmarshal(raw)
		require.NoError(t, err)
		var want []string
		for _, k := range catalog.Keys(rec) {
			want = append(want, k.Kind+"="+k.Value)
		}
		slices.Sort(want)
		require.Equal(t, strings.Join(want, ","), stored, "keys of record %d", n)
		n++
	}
	require.NoError(t, rows.Err())
	require.Positive(t, n)
	require.Zero(t, count(t, db, `SELECT count(*) FROM record_keys k WHERE NOT EXISTS (SELECT FROM records r WHERE r.id = k.record_id)`))
}

// A merge or overlay rewrites only the keys that change: the ones the new
// version dropped are deleted, the ones it added inserted, the rest kept.
func TestChangedRecordsKeepTheirKeysCurrent(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"overlay", "merge"} {
		t.Run(action, func(t *testing.T) {
			t.Parallel()
			db := testenv.NewDatabase(t)
			p := profile(t, "vendor-bibs", func(p *config.ImportProfile) {
				p.Match, p.OnSingleMatch = []string{"001"}, action
			})
			first := importFile(t, db, p, "lul_fre_100.mrc", false)
			require.Equal(t, int64(100), first.counters["imported"])
			requireKeysOfRecords(t, db)
			before035 := count(t, db, `SELECT count(*) FROM record_keys WHERE kind = '035'`)
			require.Positive(t, before035)

			// The same records with their 035s and 020s replaced by one new 035.
			data, err := os.ReadFile("../../testdata/marc/lul_fre_100.mrc")
			require.NoError(t, err)
			rd, err := marc.NewBinaryReader(bytes.NewReader(data), nil)
			require.NoError(t, err)
			var buf bytes.Buffer
			for i := 0; ; i++ {
				m, err := rd.Read()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				m.RemoveFields("035", "020")
				m.AddField(marc.Field{Tag: "035", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: "(RELOAD)" + strconv.Itoa(i)}}})
				raw, err := marc.Marshal(m)
				require.NoError(t, err)
				buf.Write(raw)
			}
			again := importReader(t, db, p, &buf, false)
			// One record of the file has no 001: it matches nothing and is imported again.
			noCN := 100 - count(t, db, `SELECT count(*) FROM record_keys WHERE kind = '001'`)
			changedN := map[string]string{"overlay": "overlaid", "merge": "merged"}[action]
			require.Equal(t, map[string]int64{"records_in_file": 100, changedN: 100 - noCN, "imported": noCN}, again.counters)
			requireKeysOfRecords(t, db)
			require.Equal(t, int64(100), count(t, db, `SELECT count(*) FROM record_keys WHERE kind = '035' AND value LIKE '(RELOAD)%'`))
			require.Zero(t, count(t, db, `SELECT count(*) FROM record_keys k JOIN records r ON r.id = k.record_id
				WHERE r.job_id = $1 AND (k.kind = 'isbn' OR (k.kind = '035' AND k.value NOT LIKE '(RELOAD)%'))`, again.jobID))
			require.Equal(t, 100-noCN, count(t, db, `SELECT count(*) FROM records WHERE job_id = $1 AND version = 2`, again.jobID))
		})
	}
}

// A record with no key of the profile's match methods can never match: it
// is imported again on every run, and the report says so with a warning.
func TestRecordWithoutMatchKeyIsReportedWithAWarning(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", nil) // 001, 035, isbn
	first := importFile(t, db, p, "bad_records.mrc", false)
	var noKey []string
	for _, row := range first.rows {
		if strings.Contains(row.Message, "warning: no match key (001, 035, isbn) in this record, so a re-run of this file imports it again") {
			require.Equal(t, jobs.OutcomeWarning, row.Outcome, row.RecordID)
			require.Contains(t, row.Message, "imported as 99")
			noKey = append(noKey, row.RecordID)
		}
	}
	require.NotEmpty(t, noKey)
	again := importFile(t, db, p, "bad_records.mrc", false)
	require.Equal(t, int64(len(noKey)), again.counters["imported"], "exactly the records without a match key are imported again")
	for _, row := range again.rows {
		if row.Outcome == jobs.OutcomeWarning {
			require.Contains(t, noKey, row.RecordID)
		}
	}
	// Records with a key warn about nothing.
	for _, row := range first.rows {
		if !slices.Contains(noKey, row.RecordID) {
			require.NotContains(t, row.Message, "no match key")
		}
	}
}

// Staged records lost (a PostgreSQL crash empties the unlogged staging
// table, as TRUNCATE does here): the job's initialization or its chunks fail
// saying so, without retries, and nothing is imported silently short.
func TestStagingLostFailsCleanly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	p := profile(t, "vendor-bibs", nil)
	stage := func() *jobs.Job {
		f, err := os.Open("../../testdata/marc/lul_fre_100.mrc")
		require.NoError(t, err)
		defer f.Close()
		var job *jobs.Job
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			job, err = store.InsertTx(ctx, tx, jobs.NewJob{Institution: institution, Type: metadataimport.TypeID,
				SubmittedBy: "test", Params: map[string]any{"profile": p.ID}, PriorityClass: "default"}, nil)
			if err != nil {
				return err
			}
			_, err = staging.Stage(ctx, tx, job.ID, f, p, 30)
			return err
		}))
		return job
	}
	kind := metadataimport.Kind{}

	// Lost before initialization.
	job := stage()
	_, err := db.Pool.Exec(ctx, `TRUNCATE import_staging`)
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Plan(ctx, tx, job, 30) })
	require.ErrorIs(t, err, metadataimport.ErrStagingLost)
	require.ErrorContains(t, err, "0 of 100 records staged")

	// Lost while running.
	job = stage()
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error { return kind.Plan(ctx, tx, job, 30) }))
	chunks, err := store.JobChunks(ctx, job.ID, "pending")
	require.NoError(t, err)
	require.Len(t, chunks, 4)
	_, err = db.Pool.Exec(ctx, `TRUNCATE import_staging`)
	require.NoError(t, err)
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		return kind.Process(ctx, tx, job, chunks[0], &jobs.ChunkResult{})
	})
	require.ErrorIs(t, err, metadataimport.ErrStagingLost)
	require.ErrorIs(t, err, asynq.SkipRetry)
	require.ErrorContains(t, err, "0 of its 30 records staged")
	require.Zero(t, count(t, db, `SELECT count(*) FROM records`))
}

// threeImported is a catalog of three records imported from a seeded file
// by the vendor-bibs profile, with the profile and the file.
func threeImported(t *testing.T) (*testenv.Database, *config.ImportProfile, []byte) {
	t.Helper()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", nil)
	file := seededFile(t, 3)
	require.Equal(t, int64(3), importReader(t, db, p, bytes.NewReader(file), false).counters["imported"])
	return db, p, file
}

// importUntilUpdateWaits starts importing file and returns once the
// chunk's UPDATE waits for a lock another transaction holds; the channel
// gets the import's run when it ends.
func importUntilUpdateWaits(t *testing.T, db *testenv.Database, p *config.ImportProfile, file []byte) <-chan run {
	t.Helper()
	done := make(chan run, 1)
	go func() { done <- importReader(t, db, p, bytes.NewReader(file), false) }()
	testenv.Eventually(t, 10*time.Second, "the chunk's UPDATE to wait for the other transaction", func() bool {
		return count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE 'UPDATE records r SET marc%'`) > 0
	})
	return done
}

// TestCandidateChangedWhileDeciding: another transaction changes a record
// after a chunk read it unlocked and before the chunk's UPDATE; the chunk
// decides again on the locked, current version, so the merge replaces (and
// keeps for revert) the version that other transaction wrote.
func TestCandidateChangedWhileDeciding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, p, file := threeImported(t)

	var id int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT min(id) FROM records`).Scan(&id))
	other, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx) //nolint:errcheck
	_, err = other.Exec(ctx, `UPDATE records SET version = version + 1, title = 'changed meanwhile' WHERE id = $1`, id)
	require.NoError(t, err)

	done := importUntilUpdateWaits(t, db, p, file)
	require.NoError(t, other.Commit(ctx))
	select {
	case r := <-done:
		require.Equal(t, map[string]int64{"records_in_file": 3, "merged": 3}, r.counters)
		require.Equal(t, 2, versions(t, db, r.jobID)[id].Version, "the merge replaced the version the other transaction wrote")
		require.EqualValues(t, 3, count(t, db, `SELECT version FROM records WHERE id = $1`, id))
	case <-time.After(30 * time.Second):
		t.Fatal("the import did not end")
	}
}

// TestDeadlockWithAnotherWriterDecidesAgain: a chunk's UPDATE has locked
// the first of the records it merges into and waits for the last, which
// another transaction holds; that transaction then asks for the first.
// PostgreSQL cancels the chunk's UPDATE (it waited longest, so it finds
// the deadlock); the chunk decides again on the candidates read FOR UPDATE
// and merges all three once the other transaction commits.
func TestDeadlockWithAnotherWriterDecidesAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, p, file := threeImported(t)

	var first, last int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT min(id), max(id) FROM records`).Scan(&first, &last))
	other, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx) //nolint:errcheck
	// The chunk's transaction, not this one, is to find the deadlock.
	_, err = other.Exec(ctx, `SET LOCAL deadlock_timeout = '60s'`)
	require.NoError(t, err)
	_, err = other.Exec(ctx, `SELECT FROM records WHERE id = $1 FOR UPDATE`, last)
	require.NoError(t, err)

	done := importUntilUpdateWaits(t, db, p, file)
	_, err = other.Exec(ctx, `SAVEPOINT probe`)
	require.NoError(t, err)
	_, err = other.Exec(ctx, `SELECT FROM records WHERE id = $1 FOR UPDATE NOWAIT`, first)
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe) && pe.Code == "55P03", "the chunk's UPDATE holds the first record while it waits for the last (got %v)", err)
	_, err = other.Exec(ctx, `ROLLBACK TO SAVEPOINT probe`)
	require.NoError(t, err)
	// Waits for the chunk, which waits for this transaction: a deadlock,
	// until PostgreSQL cancels the chunk's UPDATE and its savepoint lets go.
	_, err = other.Exec(ctx, `SELECT FROM records WHERE id = $1 FOR UPDATE`, first)
	require.NoError(t, err)
	require.NoError(t, other.Commit(ctx))
	select {
	case r := <-done:
		require.Equal(t, map[string]int64{"records_in_file": 3, "merged": 3}, r.counters)
		require.EqualValues(t, 3, count(t, db, `SELECT count(*) FROM records WHERE version = 2`))
	case <-time.After(30 * time.Second):
		t.Fatal("the import did not end")
	}
}

// TestDeletedRecordsClaimBlocksNothing: records deleted outside a revert
// keep their keys and claims; importing the file again creates new records
// (holding the keys unclaimed) instead of failing on the old claims, and the
// next import merges into them.
func TestDeletedRecordsClaimBlocksNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, p, file := threeImported(t)
	_, err := db.Pool.Exec(ctx, `UPDATE records SET deleted = true`)
	require.NoError(t, err)

	require.Equal(t, map[string]int64{"records_in_file": 3, "imported": 3}, importReader(t, db, p, bytes.NewReader(file), false).counters)
	require.Equal(t, map[string]int64{"records_in_file": 3, "merged": 3}, importReader(t, db, p, bytes.NewReader(file), false).counters)
	require.EqualValues(t, 3, count(t, db, `SELECT count(*) FROM records WHERE NOT deleted`))
	require.EqualValues(t, 3, count(t, db, `SELECT count(*) FROM record_keys k JOIN records r ON r.id = k.record_id
		WHERE NOT r.deleted AND k.kind = '001' AND k.claimed_for IS NULL`), "the live records hold their 001 unclaimed")
}

// TestConcurrentImportsOfOneFileCreateEachRecordOnce: four imports of the
// same file run at once, chunk for chunk in step, so their chunks race to
// create the same records; every record is created once, by one of them,
// and the others merge into it.
func TestConcurrentImportsOfOneFileCreateEachRecordOnce(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", nil)
	file := seededFile(t, 400)

	const imports = 4
	runs := make([]run, imports)
	var wg sync.WaitGroup
	for i := range imports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = importReader(t, db, p, bytes.NewReader(file), false)
		}()
	}
	wg.Wait()
	total := map[string]int64{}
	for _, r := range runs {
		require.Equal(t, int64(400), r.counters["records_in_file"])
		for k, v := range r.counters {
			total[k] += v
		}
	}
	require.Equal(t, map[string]int64{"records_in_file": 1600, "imported": 400, "merged": 1200}, total)
	require.EqualValues(t, 400, count(t, db, `SELECT count(*) FROM records`))
	require.EqualValues(t, 400, count(t, db, `SELECT count(*) FROM record_keys WHERE kind = '001' AND claimed_for = 'bib'`))
	requireKeysOfRecords(t, db)
}

// TestOneControlNumberFromTwoAgencies: records with one 001 and different
// 003s are different records to a 001 match, and each claims its own key,
// whether they arrive in one chunk or in two imports.
func TestOneControlNumberFromTwoAgencies(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	p := profile(t, "vendor-bibs", func(p *config.ImportProfile) { p.Match = []string{"001"} })
	file := func(title string, orgs ...string) []byte {
		var out []byte
		for _, org := range orgs {
			rec := &marc.Record{Leader: marc.Leader([]byte("00000nam a2200000 a 4500")), Fields: []marc.Field{{Tag: "001", Value: "85012345"}}}
			if org != "" {
				rec.AddField(marc.Field{Tag: "003", Value: org})
			}
			rec.AddField(marc.Field{Tag: "245", Ind1: '0', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: title + " " + org}}})
			raw, err := marc.Marshal(rec)
			require.NoError(t, err)
			out = append(out, raw...)
		}
		return out
	}
	r := importReader(t, db, p, bytes.NewReader(file("First", "DLC", "OCoLC")), false)
	require.Equal(t, map[string]int64{"records_in_file": 2, "imported": 2}, r.counters)
	r = importReader(t, db, p, bytes.NewReader(file("Second", "OCoLC", "", "DLC")), false)
	require.Equal(t, map[string]int64{"records_in_file": 3, "imported": 1, "merged": 2}, r.counters)
	require.Regexp(t, `^merged into \d+ \(matched on 001\)$`, r.rows[0].Message)
	var claims string
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT string_agg(r.title || '=' || k.value || ':' || k.claimed_for, ', ' ORDER BY k.value)
		FROM record_keys k JOIN records r ON r.id = k.record_id WHERE k.kind = '001'`).Scan(&claims))
	require.Equal(t, "Second DLC=DLC|85012345:bib, Second OCoLC=OCOLC|85012345:bib, Second=|85012345:bib", claims)
	requireKeysOfRecords(t, db)
}

// TestStatementsArePlannedForTheirArguments: a chunk's statements are
// planned for the arrays they are given, never with a cached generic plan.
// One made while the catalog was small (a first load into an empty one)
// scanned record_keys whole for every lookup as the catalog grew.
func TestStatementsArePlannedForTheirArguments(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	p := profile(t, "vendor-bibs", nil)
	file := seededFile(t, 120)
	conn, err := db.Pool.Acquire(ctx) // one session: its prepared statements
	require.NoError(t, err)
	defer conn.Release()
	genericPlans := func() map[string]int64 {
		rows, err := conn.Query(ctx, `SELECT statement, generic_plans FROM pg_prepared_statements`, pgx.QueryExecModeSimpleProtocol)
		require.NoError(t, err)
		n := map[string]int64{}
		for rows.Next() {
			var s string
			var plans int64
			require.NoError(t, rows.Scan(&s, &plans))
			n[s] = plans
		}
		require.NoError(t, rows.Err())
		return n
	}
	before := genericPlans()
	kind := metadataimport.Kind{}
	for range 2 { // import, then merge: every statement more than five times
		job, chunks := plannedJob(t, db, p, bytes.NewReader(file), false, 10)
		for _, c := range chunks {
			require.NoError(t, pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				return kind.Process(ctx, tx, job, c, &jobs.ChunkResult{})
			}))
		}
	}
	for s, n := range genericPlans() {
		require.Equal(t, before[s], n, "run with a generic plan: %s", s)
	}
	require.EqualValues(t, 120, count(t, db, `SELECT count(*) FROM records`))
}
