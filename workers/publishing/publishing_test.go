package publishing_test

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/staging"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
	"github.com/bindery/bindery/workers/publishing"
)

const institution = "DEMO"

// fixture drives the real engine one Step at a time and plays the worker
// with the tasks it finds in Redis (as pkg/engine's tests do).
type fixture struct {
	t     *testing.T
	db    *testenv.Database
	store *jobs.Store
	eng   *engine.Engine
	w     *worker.Worker
	insp  *asynq.Inspector
	cat   *config.Config
	dir   string // the discovery profile's directory
	files string // the job files directory
}

func newFixture(t *testing.T, rotate int, edit func(p *config.PublishingProfile)) *fixture {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	f := &fixture{t: t, cat: cat, dir: t.TempDir(), files: t.TempDir()}
	p, ok := cat.PublishingProfile("discovery", institution)
	require.True(t, ok)
	p.Directory, p.RotateEvery = f.dir, rotate
	if edit != nil {
		edit(p)
	}
	cat.JobFiles.Directory, cat.JobFiles.RotateEvery = f.files, rotate
	f.db = testenv.NewDatabase(t)
	rd := testenv.NewRedis(t)
	opt, err := queue.RedisOpt(rd.URL)
	require.NoError(t, err)
	f.store = jobs.NewStore(f.db.Pool)
	kinds := workers.KindsFor(cat)
	f.eng, err = engine.New(f.store, opt, engine.Config{Catalog: cat, Kinds: kinds, LostTaskAfter: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.eng.Close() })
	f.w, err = worker.New(f.store, opt, worker.Config{Catalog: cat, Kinds: workers.Kinds(), ID: "w1"})
	require.NoError(t, err)
	require.NoError(t, f.store.Heartbeat(context.Background(), "w1", "h", 1, 1))
	f.insp = asynq.NewInspector(opt)
	t.Cleanup(func() { _ = f.insp.Close() })
	return f
}

func (f *fixture) submit(jobType string, raw map[string]string) *jobs.Job {
	f.t.Helper()
	jt, _ := f.cat.JobType(jobType)
	in, _ := f.cat.Institution(institution)
	params, err := jt.ResolveParams(in, raw)
	require.NoError(f.t, err)
	j, err := f.store.Insert(context.Background(), jobs.NewJob{Institution: institution, Type: jobType, SubmittedBy: "t",
		Params: params, PriorityClass: jt.PriorityClass}, nil)
	require.NoError(f.t, err)
	return j
}

// work handles every pending task once, as a worker would.
func (f *fixture) work() {
	f.t.Helper()
	for q := range f.cat.Queues {
		tasks, err := f.insp.ListPendingTasks(q, asynq.PageSize(1000))
		if err != nil {
			continue // queue not created yet
		}
		for _, ti := range tasks {
			require.NoError(f.t, f.w.Handle(context.Background(), asynq.NewTask(ti.Type, ti.Payload)))
			require.NoError(f.t, f.insp.DeleteTask(q, ti.ID))
		}
	}
}

func (f *fixture) get(id int64) *jobs.Job {
	f.t.Helper()
	j, err := f.store.Get(context.Background(), id)
	require.NoError(f.t, err)
	return j
}

func (f *fixture) runToEnd(id int64) *jobs.Job {
	f.t.Helper()
	for i := 0; i < 1000 && !f.get(id).Status.Terminal(); i++ {
		require.NoError(f.t, f.eng.Step(context.Background()))
		f.work()
	}
	j := f.get(id)
	require.True(f.t, j.Status.Terminal(), "job %d still %s", id, j.Status)
	return j
}

// importFile loads a shared test file through Metadata Import (staging, the
// engine and the worker), as an upload would.
func (f *fixture) importFile(name string) *jobs.Job {
	f.t.Helper()
	ctx := context.Background()
	p, ok := f.cat.ImportProfile("vendor-bibs", institution)
	require.True(f.t, ok)
	in, err := os.Open(filepath.Join("../../testdata/marc", name))
	require.NoError(f.t, err)
	defer in.Close()
	var job *jobs.Job
	require.NoError(f.t, pgx.BeginFunc(ctx, f.db.Pool, func(tx pgx.Tx) error {
		job, err = f.store.InsertTx(ctx, tx, jobs.NewJob{Institution: institution, Type: "metadata-import", SubmittedBy: "t",
			Params: map[string]any{"profile": p.ID, "dry_run": false}, PriorityClass: "default"}, nil)
		if err != nil {
			return err
		}
		jt, _ := f.cat.JobType("metadata-import")
		_, err = staging.Stage(ctx, tx, job.ID, in, p, jt.ChunkSize)
		return err
	}))
	job = f.runToEnd(job.ID)
	require.Equal(f.t, jobs.CompletedSuccess, job.Status, "import of %s: %s %v", name, job.Message, job.Alerts)
	return job
}

// itemizedSet creates an itemized set of bib records from MMS IDs.
func (f *fixture) itemizedSet(name string, ids []string) int64 {
	f.t.Helper()
	s, err := sets.CreateItemized(context.Background(), f.db.Pool, sets.NewSet{Institution: institution, CreatedBy: "t", Name: name},
		strings.NewReader("MMS ID\n"+strings.Join(ids, "\n")+"\n"))
	require.NoError(f.t, err)
	require.Zero(f.t, s.ProblemCount, "%v", s.Problems)
	return s.ID
}

func (f *fixture) publish(mode string) *jobs.Job {
	f.t.Helper()
	j := f.submit(publishing.TypeID, map[string]string{"profile": "discovery", "mode": mode})
	return f.runToEnd(j.ID)
}

// jobFiles lists the files a job registered, checking each against its
// size and SHA-256 on disk.
func (f *fixture) jobFiles(jobID int64) []publishing.File {
	f.t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT name, kind, records, bytes, sha256, directory, tmp_name IS NULL
		FROM job_files WHERE job_id = $1 ORDER BY kind DESC, name`, jobID)
	require.NoError(f.t, err)
	var out []publishing.File
	for rows.Next() {
		var fl publishing.File
		var dir string
		var renamed bool
		require.NoError(f.t, rows.Scan(&fl.Name, &fl.Kind, &fl.Records, &fl.Bytes, &fl.SHA256, &dir, &renamed))
		require.True(f.t, renamed, "%s was never renamed", fl.Name)
		body, err := os.ReadFile(filepath.Join(dir, fl.Name))
		require.NoError(f.t, err)
		sum := sha256.Sum256(body)
		require.Equal(f.t, fl.SHA256, hex.EncodeToString(sum[:]), fl.Name)
		require.Equal(f.t, fl.Bytes, int64(len(body)), fl.Name)
		out = append(out, fl)
	}
	require.NoError(f.t, rows.Err())
	return out
}

// readFile reads the records of a published file (gunzipping it if need be).
func readFile(t *testing.T, path string) []*marc.Record {
	t.Helper()
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	var r io.Reader = fh
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(fh)
		require.NoError(t, err)
		r = gz
	}
	var out []*marc.Record
	if strings.Contains(path, ".xml") {
		xr := marc.NewXMLReader(r, nil)
		for {
			rec, err := xr.Read()
			if errors.Is(err, io.EOF) {
				return out
			}
			require.NoError(t, err, path)
			out = append(out, rec)
		}
	}
	br, err := marc.NewBinaryReader(r, nil)
	require.NoError(t, err)
	for {
		rec, err := br.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, path)
		require.Empty(t, rec.Warnings, path)
		out = append(out, rec)
	}
}

// catalog returns the institution's live bibliographic records by 001.
func (f *fixture) catalog() map[string][]byte {
	f.t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT marc FROM records
		WHERE institution = $1 AND record_type = 'bib' AND NOT deleted`, institution)
	require.NoError(f.t, err)
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var raw []byte
		require.NoError(f.t, rows.Scan(&raw))
		rec, err := marc.Unmarshal(raw)
		require.NoError(f.t, err)
		cn := rec.ControlNumber()
		require.NotEmpty(f.t, cn, "a test record without 001")
		require.NotContains(f.t, out, cn, "two records with 001 %q: the union cannot be keyed by 001", cn)
		out[cn] = raw
	}
	require.NoError(f.t, rows.Err())
	return out
}

// apply applies a run's files to what a discovery system holds, keyed by
// 001: records files add or replace, deletes files remove. It returns how
// many records and deletions it read.
func (f *fixture) apply(held map[string][]byte, jobID int64) (records, deletes int) {
	f.t.Helper()
	for _, fl := range f.jobFiles(jobID) {
		if fl.Kind == "manifest" {
			continue
		}
		for _, rec := range readFile(f.t, filepath.Join(f.dir, fl.Name)) {
			cn := rec.ControlNumber()
			if fl.Kind == "deletes" {
				require.Equal(f.t, byte('d'), rec.Leader[5], "a deletes file holds deleted records")
				delete(held, cn)
				deletes++
				continue
			}
			raw, err := marc.Marshal(rec)
			require.NoError(f.t, err)
			held[cn] = raw
			records++
		}
	}
	return records, deletes
}

// modify adds a local note to n live records (the ones with the lowest ids).
func (f *fixture) modify(n int, note string) {
	f.t.Helper()
	ctx := context.Background()
	rows, err := f.db.Pool.Query(ctx, `SELECT id, marc FROM records WHERE institution = $1 AND NOT deleted ORDER BY id LIMIT $2`, institution, n)
	require.NoError(f.t, err)
	type rec struct {
		id  int64
		raw []byte
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		return x, r.Scan(&x.id, &x.raw)
	})
	require.NoError(f.t, err)
	for _, r := range recs {
		_, err := f.db.Pool.Exec(ctx, `UPDATE records SET marc = $2, version = version + 1, updated_at = now() WHERE id = $1`, r.id, withNote(f.t, r.raw, note))
		require.NoError(f.t, err)
	}
}

// giveControlNumbers gives every record without a 001 the 001 "mms<id>".
func (f *fixture) giveControlNumbers() {
	f.t.Helper()
	ctx := context.Background()
	rows, err := f.db.Pool.Query(ctx, `SELECT id, marc FROM records`)
	require.NoError(f.t, err)
	type rec struct {
		id  int64
		raw []byte
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		return x, r.Scan(&x.id, &x.raw)
	})
	require.NoError(f.t, err)
	for _, r := range recs {
		m, err := marc.Unmarshal(r.raw)
		require.NoError(f.t, err)
		if m.ControlNumber() != "" {
			continue
		}
		m.RemoveFields("001")
		m.AddField(marc.Field{Tag: "001", Value: "mms" + itoa(r.id)})
		raw, err := marc.Marshal(m)
		require.NoError(f.t, err)
		_, err = f.db.Pool.Exec(ctx, `UPDATE records SET marc = $2 WHERE id = $1`, r.id, raw)
		require.NoError(f.t, err)
	}
}

func withNote(t *testing.T, raw []byte, note string) []byte {
	t.Helper()
	rec, err := marc.Unmarshal(raw)
	require.NoError(t, err)
	rec.AddField(marc.Field{Tag: "590", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: note}}})
	out, err := marc.Marshal(rec)
	require.NoError(t, err)
	return out
}

func (f *fixture) manifest(jobID int64) publishing.Manifest {
	f.t.Helper()
	var name, dir string
	require.NoError(f.t, f.db.Pool.QueryRow(context.Background(), `SELECT name, directory FROM job_files WHERE job_id = $1 AND kind = 'manifest'`, jobID).Scan(&name, &dir))
	body, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(f.t, err)
	var m publishing.Manifest
	require.NoError(f.t, json.Unmarshal(body, &m))
	return m
}

// TestFullThenIncrementalsEqualTheCatalog: what a discovery system holds
// after a full run and incremental runs (with updates, new records and
// deletions between them, and an aborted run) is the catalog, record for
// record and byte for byte.
func TestFullThenIncrementalsEqualTheCatalog(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 300, nil)
	ctx := context.Background()
	f.importFile("jazz_1k.mrc")
	f.importFile("concerto_bibs.xml")
	// The union below is keyed by 001: shared records without one get one.
	f.giveControlNumbers()
	live := len(f.catalog())
	require.Greater(t, live, 1000)

	full := f.publish("full")
	require.Equal(t, jobs.CompletedSuccess, full.Status, full.Message)
	require.Equal(t, int64(live), full.Counters[publishing.Published])
	held := map[string][]byte{}
	recs, dels := f.apply(held, full.ID)
	require.Equal(t, live, recs)
	require.Zero(t, dels)
	require.Equal(t, f.catalog(), held)
	files := f.jobFiles(full.ID)
	require.Len(t, files, 5, "1,0xx records in files of 300, and the manifest")
	require.Equal(t, "discovery_"+itoa(full.ID)+"_00001.mrc", files[0].Name)
	m := f.manifest(full.ID)
	require.Equal(t, int64(live), m.Records)
	require.Len(t, m.Files, 4)
	require.Equal(t, files[0].SHA256, m.Files[0].SHA256)
	left, err := filepath.Glob(filepath.Join(f.dir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "no temporary file is left")

	// Changes: 50 records updated, 100 imported, 10 deleted.
	f.modify(50, "first round")
	lul := f.importFile("lul_fre_100.mrc")
	f.giveControlNumbers()
	_, err = f.db.Pool.Exec(ctx, `UPDATE records SET deleted = true WHERE id IN (
		SELECT id FROM records WHERE institution = $1 AND NOT deleted ORDER BY id DESC LIMIT 10 OFFSET 100)`, institution)
	require.NoError(t, err)

	inc := f.publish("incremental")
	require.Equal(t, jobs.CompletedSuccess, inc.Status, inc.Message)
	recs, dels = f.apply(held, inc.ID)
	require.Equal(t, 150, recs)
	require.Equal(t, 10, dels)
	require.Equal(t, f.catalog(), held)
	require.Equal(t, int64(full.ID), *f.manifest(inc.ID).Since)

	// More changes: the import of lul_fre_100 reverted (100 tombstones), 5 updated.
	rv := f.submit("import-revert", map[string]string{"job": itoa(lul.ID)})
	require.Equal(t, jobs.CompletedSuccess, f.runToEnd(rv.ID).Status)
	f.modify(5, "second round")

	// An aborted run publishes nothing and leaves the watermark alone.
	ab := f.submit(publishing.TypeID, map[string]string{"profile": "discovery", "mode": "incremental"})
	require.NoError(t, f.eng.Step(ctx))
	require.Equal(t, jobs.Running, f.get(ab.ID).Status)
	f.work() // the chunks commit
	require.NoError(t, f.eng.Abort(ctx, ab.ID, "t"))
	require.Empty(t, f.jobFiles(ab.ID))
	left, err = filepath.Glob(filepath.Join(f.dir, "*_"+itoa(ab.ID)+"_*"))
	require.NoError(t, err)
	require.Empty(t, left, "an aborted run leaves no file")

	inc2 := f.publish("incremental")
	require.Equal(t, jobs.CompletedSuccess, inc2.Status, inc2.Message)
	recs, dels = f.apply(held, inc2.ID)
	require.Equal(t, 5, recs)
	require.Equal(t, 100, dels)
	require.Equal(t, f.catalog(), held)

	// Nothing changed since: nothing to publish, and the job says so.
	nothing := f.publish("incremental")
	require.Equal(t, jobs.CompletedNoBulks, nothing.Status)
	require.Regexp(t, `^nothing to publish: no record of profile \S+ changed since its last run$`, nothing.Message)

	// A full run now leaves the 110 tombstones out and alone equals the catalog.
	again := f.publish("full")
	require.Equal(t, jobs.CompletedSuccess, again.Status, again.Message)
	fresh := map[string][]byte{}
	recs, dels = f.apply(fresh, again.ID)
	require.Equal(t, len(f.catalog()), recs)
	require.Zero(t, dels)
	require.Equal(t, f.catalog(), fresh)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestChangeDuringRunIsPublishedByTheNext: a writer that began before a run
// and commits after the run took its snapshot, while a later writer (a
// higher transaction id) committed before it, is published by the next
// run. A boundary that is a maximum (of change numbers, transaction ids or
// timestamps, all assigned before commit) would lose that change.
func TestChangeDuringRunIsPublishedByTheNext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 300, nil)
	ctx := context.Background()
	f.importFile("lul_fre_100.mrc")
	f.giveControlNumbers()
	held := map[string][]byte{}
	full := f.publish("full")
	require.Equal(t, jobs.CompletedSuccess, full.Status)
	f.apply(held, full.ID)
	var a, b int64
	var aRaw, bRaw []byte
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT min(id), max(id) FROM records`).Scan(&a, &b))
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT marc FROM records WHERE id = $1`, a).Scan(&aRaw))
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT marc FROM records WHERE id = $1`, b).Scan(&bRaw))

	// T1 changes A and stays open; T2, later, changes B and commits.
	t1, err := f.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer t1.Rollback(ctx) //nolint:errcheck
	_, err = t1.Exec(ctx, `UPDATE records SET marc = $2 WHERE id = $1`, a, withNote(t, aRaw, "slow writer"))
	require.NoError(t, err)
	_, err = f.db.Pool.Exec(ctx, `UPDATE records SET marc = $2 WHERE id = $1`, b, withNote(t, bRaw, "fast writer"))
	require.NoError(t, err)

	// A run starts and completes while T1 is open: it publishes B only.
	run := f.submit(publishing.TypeID, map[string]string{"profile": "discovery", "mode": "incremental"})
	require.NoError(t, f.eng.Step(ctx)) // planned: its snapshot has T1 in progress
	require.NoError(t, t1.Commit(ctx))  // T1 commits while the run runs
	run = f.runToEnd(run.ID)
	require.Equal(t, jobs.CompletedSuccess, run.Status, run.Message)
	recs, _ := f.apply(held, run.ID)
	require.Equal(t, 1, recs, "the run publishes B only: A's change was not committed when it planned")

	// The next run publishes A: its change was not visible in the run's snapshot.
	next := f.publish("incremental")
	require.Equal(t, jobs.CompletedSuccess, next.Status, next.Message)
	recs, _ = f.apply(held, next.ID)
	require.Equal(t, 1, recs)
	require.Equal(t, f.catalog(), held)
}

// TestProfileOnASet: a profile with records: set publishes the set's
// members, in full and then what changed among them.
func TestProfileOnASet(t *testing.T) {
	t.Parallel()
	var setID int64
	f := newFixture(t, 20, func(p *config.PublishingProfile) { p.Records, p.Institution = "set", institution })
	ctx := context.Background()
	f.importFile("lul_fre_100.mrc")
	f.giveControlNumbers()
	rows, err := f.db.Pool.Query(ctx, `SELECT id::text FROM records ORDER BY id`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	setID = f.itemizedSet("half", ids[:50])
	p, _ := f.cat.PublishingProfile("discovery", institution)
	p.Set = setID

	full := f.publish("full")
	require.Equal(t, jobs.CompletedSuccess, full.Status, full.Message)
	require.Equal(t, int64(50), full.Counters[publishing.Published])
	require.Len(t, f.jobFiles(full.ID), 4, "50 records in files of 20, and the manifest")

	f.modify(53, "changed") // 50 members and 3 others
	_, err = f.db.Pool.Exec(ctx, `UPDATE records SET deleted = true WHERE id = $1::bigint OR id = $2::bigint`, ids[0], ids[99])
	require.NoError(t, err)
	inc := f.publish("incremental")
	require.Equal(t, jobs.CompletedSuccess, inc.Status, inc.Message)
	require.Equal(t, int64(49), inc.Counters[publishing.Published])
	require.Equal(t, int64(1), inc.Counters[publishing.Deleted], "only the member's deletion")
	n := 0
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM job_set_members WHERE job_id IN ($1, $2)`, full.ID, inc.ID).Scan(&n))
	require.Zero(t, n, "the set snapshots are dropped when the runs end")

	// Nothing changed: no bulks, and no snapshot left behind either.
	none := f.publish("incremental")
	require.Equal(t, jobs.CompletedNoBulks, none.Status)
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM job_set_members WHERE job_id = $1`, none.ID).Scan(&n))
	require.Zero(t, n)
}

// TestRedeliveredChunksWriteOnce: every chunk delivered twice at the same
// time (asynq may do that) is registered once; the losing deliveries'
// temporary files are gone when the run ends, and the files hold each
// record once.
func TestRedeliveredChunksWriteOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 30, nil)
	ctx := context.Background()
	f.importFile("lul_fre_100.mrc")
	f.giveControlNumbers()
	j := f.submit(publishing.TypeID, map[string]string{"profile": "discovery", "mode": "full"})
	require.NoError(t, f.eng.Step(ctx))
	tasks, err := f.insp.ListPendingTasks("bulk", asynq.PageSize(100))
	require.NoError(t, err)
	require.Len(t, tasks, 4)
	var wg sync.WaitGroup
	for _, ti := range tasks {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.NoError(t, f.w.Handle(ctx, asynq.NewTask(ti.Type, ti.Payload)))
			}()
		}
		require.NoError(t, f.insp.DeleteTask("bulk", ti.ID))
	}
	wg.Wait()
	j = f.runToEnd(j.ID)
	require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
	held := map[string][]byte{}
	recs, _ := f.apply(held, j.ID)
	require.Equal(t, 100, recs)
	require.Equal(t, f.catalog(), held)
	left, err := filepath.Glob(filepath.Join(f.dir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "the losing deliveries' temporary files are removed")
}

// TestWorkersNotSharingTheDirectory: files the server cannot find (a worker
// wrote them to its own disk) fail the run, naming each missing file, and
// nothing is published; the watermark stays.
func TestWorkersNotSharingTheDirectory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 60, nil)
	ctx := context.Background()
	f.importFile("lul_fre_100.mrc")
	j := f.submit(publishing.TypeID, map[string]string{"profile": "discovery", "mode": "full"})
	require.NoError(t, f.eng.Step(ctx))
	f.work()
	tmps, err := filepath.Glob(filepath.Join(f.dir, ".*.tmp"))
	require.NoError(t, err)
	require.Len(t, tmps, 2)
	require.NoError(t, os.Remove(tmps[0]))
	j = f.runToEnd(j.ID)
	require.Equal(t, jobs.CompletedFailed, j.Status)
	require.Len(t, j.Alerts, 1)
	require.Contains(t, j.Alerts[0], "do the workers write to the same directory as the server")
	left, err := filepath.Glob(filepath.Join(f.dir, "*"))
	require.NoError(t, err)
	require.Empty(t, left, "nothing is published")
	var n int
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM publishing_watermarks`).Scan(&n))
	require.Zero(t, n)
}
