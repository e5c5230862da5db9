package sets_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
)

// onSet is a job type that runs on a set the way a real one does: PlanJob
// at initialization, ChunkMembers per chunk, DropSnapshot at the end.
type onSet struct{}

func (onSet) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) error {
	_, err := sets.PlanJob(ctx, tx, job, chunkSize)
	return err
}

func (onSet) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	ids, err := sets.ChunkMembers(ctx, tx, c)
	if err != nil {
		return err
	}
	for _, id := range ids {
		res.Report(fmt.Sprint(id), jobs.OutcomeSuccess, "")
	}
	res.Count("members", int64(len(ids)))
	return nil
}

func (onSet) Cleanup(ctx context.Context, tx pgx.Tx, job *jobs.Job) error {
	return sets.DropSnapshot(ctx, tx, job.ID)
}

// TestJobOnALogicalSet drives a job on a logical set through the real
// engine and chunk handler: the query is run when the job initializes (a
// record added after the submit is in it), every member is processed once,
// and the snapshot is dropped when the job ends.
func TestJobOnALogicalSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	noop, _ := cat.JobType("noop")
	jt := *noop
	jt.ID, jt.SetContent, jt.ChunkSize = "on-set", "bib", 7
	jt.Params = []config.Param{{Name: "set", Type: "int", Required: true}}
	cat.JobTypes = append(cat.JobTypes, jt)
	kinds := map[string]jobs.Kind{"on-set": onSet{}}

	db := testenv.NewDatabase(t)
	rd := testenv.NewRedis(t)
	opt, err := queue.RedisOpt(rd.URL)
	require.NoError(t, err)
	store := jobs.NewStore(db.Pool)
	eng, err := engine.New(store, opt, engine.Config{Catalog: cat, Kinds: kinds})
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	w, err := workerFor(t, store, opt, cat, kinds)
	require.NoError(t, err)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })

	importFile(t, db, inst, "vendor-bibs", "lul_fre_100.mrc")
	s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Not suppressed", Query: "NOT suppressed"})
	require.NoError(t, err)
	in, _ := cat.Institution(inst)
	params, err := jt.ResolveParams(in, map[string]string{"set": fmt.Sprint(s.ID)})
	require.NoError(t, err)
	var job *jobs.Job
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := sets.CheckSubmit(ctx, tx, &jt, inst, params); err != nil {
			return err
		}
		job, err = store.InsertTx(ctx, tx, jobs.NewJob{Institution: inst, Type: jt.ID, SubmittedBy: "t", Params: params, PriorityClass: jt.PriorityClass}, nil)
		return err
	}))
	// After the submit, before the job starts: one record more, one suppressed.
	_, err = db.Pool.Exec(ctx, `INSERT INTO records (institution, record_type, marc, title)
		SELECT institution, record_type, marc, 'added later' FROM records ORDER BY id LIMIT 1`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE records SET suppressed = true WHERE id = (SELECT min(id) FROM records)`)
	require.NoError(t, err)
	want := ids(t, db, `SELECT id FROM records WHERE institution = $1 AND NOT suppressed ORDER BY id`, inst)
	require.Len(t, want, 100)

	deadline := time.Now().Add(time.Minute)
	for {
		require.NoError(t, eng.Step(ctx))
		tasks, _ := insp.ListPendingTasks(jt.PriorityClass, asynq.PageSize(1000))
		for _, ti := range tasks {
			require.NoError(t, w.Handle(ctx, asynq.NewTask(ti.Type, ti.Payload)))
			require.NoError(t, insp.DeleteTask(jt.PriorityClass, ti.ID))
		}
		j, err := store.Get(ctx, job.ID)
		require.NoError(t, err)
		if j.Status.Terminal() {
			require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
			require.Equal(t, int64(100), j.Counters["members"])
			require.Equal(t, 15, j.TotalChunks) // 100 members in chunks of 7
			break
		}
		require.True(t, time.Now().Before(deadline), "job %d still %s", job.ID, j.Status)
	}
	var reported []int64
	require.NoError(t, store.ReportRows(ctx, job.ID, func(r jobs.ReportRow) error {
		var id int64
		_, err := fmt.Sscan(r.RecordID, &id)
		reported = append(reported, id)
		return err
	}))
	require.ElementsMatch(t, want, reported, "every member once, the late record included")
	require.Zero(t, count(t, db, `SELECT count(*) FROM job_set_members WHERE job_id = $1`, job.ID), "the snapshot is dropped when the job ends")
}

// workerFor is a chunk handler with a live heartbeat row (the engine only
// lets registered workers own chunks).
func workerFor(t *testing.T, store *jobs.Store, opt asynq.RedisConnOpt, cat *config.Config, kinds map[string]jobs.Kind) (*worker.Worker, error) {
	t.Helper()
	w, err := worker.New(store, opt, worker.Config{Catalog: cat, Kinds: kinds, ID: "w1"})
	if err != nil {
		return nil, err
	}
	return w, store.Heartbeat(context.Background(), "w1", "h", 1, 1)
}
