package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
)

type fixture struct {
	db    *testenv.Database
	store *jobs.Store
	w     *worker.Worker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	// Handle needs no Redis: the address is never dialled in these tests.
	w, err := worker.New(store, asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, worker.Config{Catalog: cat, Kinds: workers.Kinds(), ID: "test-worker"})
	require.NoError(t, err)
	require.NoError(t, store.Heartbeat(context.Background(), "test-worker", "h", 1, 1))
	return &fixture{db: db, store: store, w: w}
}

// startJob takes a job through planning to RUNNING by hand (no engine).
func (f *fixture) startJob(t *testing.T, jobType string, params map[string]any, chunkSize int) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	j, err := f.store.Insert(ctx, jobs.NewJob{Institution: "DEMO", Type: jobType, SubmittedBy: "t", Params: params, PriorityClass: "default"}, nil)
	require.NoError(t, err)
	require.NoError(t, f.store.Transition(ctx, f.db.Pool, j.ID, jobs.Initializing, ""))
	j, err = f.store.Get(ctx, j.ID) // params as JSON decodes them, like the engine sees them
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, f.db.Pool, func(tx pgx.Tx) error {
		if err := workers.Kinds()[jobType].Plan(ctx, tx, j, chunkSize); err != nil {
			return err
		}
		if _, _, err := f.store.SetPopulation(ctx, tx, j.ID); err != nil {
			return err
		}
		return f.store.Transition(ctx, tx, j.ID, jobs.Running, "")
	}))
	return j
}

func (f *fixture) admitOne(t *testing.T, j *jobs.Job) (jobs.Chunk, *asynq.Task) {
	t.Helper()
	cs, err := f.store.Admit(context.Background(), j.ID, 1)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	task, err := queue.NewChunkTask(cs[0], j.Type, "default")
	require.NoError(t, err)
	return cs[0], task
}

func (f *fixture) reportRows(t *testing.T, jobID int64) (rows, distinct int) {
	t.Helper()
	require.NoError(t, f.db.Pool.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT record_id) FROM job_report WHERE job_id = $1`, jobID).Scan(&rows, &distinct))
	return rows, distinct
}

// TestSameChunkTwice: a redelivered chunk that already committed is a no-op,
// whether the deliveries come one after the other or at the same time.
func TestSameChunkTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := seed.Demo(ctx, f.db.Pool, "DEMO", 400, false)
	require.NoError(t, err)
	j := f.startJob(t, "loan-anonymization", map[string]any{"retention_days": 90}, 200)

	// One after the other.
	c, task := f.admitOne(t, j)
	require.NoError(t, f.w.Handle(ctx, task))
	require.NoError(t, f.w.Handle(ctx, task))
	rows, distinct := f.reportRows(t, j.ID)
	require.Equal(t, c.Records, rows)
	require.Equal(t, rows, distinct)

	// At the same time.
	c2, task2 := f.admitOne(t, j)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.w.Handle(ctx, task2) }()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	rows, distinct = f.reportRows(t, j.ID)
	require.Equal(t, c.Records+c2.Records, rows)
	require.Equal(t, rows, distinct)

	// The catalog agrees: each loan anonymized once, none left eligible.
	sum, err := f.store.SumCounters(ctx, f.db.Pool, j.ID)
	require.NoError(t, err)
	require.Equal(t, int64(400), sum["loans_examined"])
	var linkedOld int
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*) FROM loans
		WHERE user_id IS NOT NULL AND return_date < now() - interval '90 days'`).Scan(&linkedOld))
	require.Zero(t, linkedOld)
	require.Equal(t, int64(280), sum["loans_anonymized"])
}

// TestStaleFence: after re-admission, the old delivery does nothing and the
// new one commits.
func TestStaleFence(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.startJob(t, "noop", map[string]any{"records": 10}, 10)
	old, oldTask := f.admitOne(t, j)
	released, err := f.store.Release(ctx, old)
	require.NoError(t, err)
	require.True(t, released)
	cur, curTask := f.admitOne(t, j)
	require.Equal(t, old.Fence+1, cur.Fence)

	require.NoError(t, f.w.Handle(ctx, oldTask))
	var status string
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT status FROM chunks WHERE job_id = $1`, j.ID).Scan(&status))
	require.Equal(t, "queued", status, "a stale delivery must not commit")

	require.NoError(t, f.w.Handle(ctx, curTask))
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT status FROM chunks WHERE job_id = $1`, j.ID).Scan(&status))
	require.Equal(t, "done", status)
}

// TestCancelledMidChunkRollsBack: a handler cancelled between records (abort,
// shutdown) leaves nothing behind, and the chunk can still be done once.
func TestCancelledMidChunkRollsBack(t *testing.T) {
	f := newFixture(t)
	j := f.startJob(t, "noop", map[string]any{"records": 50, "record_delay_ms": 10, "fail_every": 1}, 50)
	_, task := f.admitOne(t, j)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := f.w.Handle(ctx, task)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	rows, _ := f.reportRows(t, j.ID)
	require.Zero(t, rows, "a cancelled chunk must roll back its report rows")

	require.NoError(t, f.w.Handle(context.Background(), task))
	rows, _ = f.reportRows(t, j.ID)
	require.Equal(t, 50, rows)
}

// TestNoCommitAfterAbort: a chunk finishing after its job was aborted rolls back.
func TestNoCommitAfterAbort(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.startJob(t, "noop", map[string]any{"records": 5, "fail_every": 1}, 5)
	_, task := f.admitOne(t, j)
	require.NoError(t, f.store.Transition(ctx, f.db.Pool, j.ID, jobs.UserAborted, "test"))
	require.NoError(t, f.w.Handle(ctx, task))
	rows, _ := f.reportRows(t, j.ID)
	require.Zero(t, rows)
}

func TestBadPayloadSkipsRetry(t *testing.T) {
	f := newFixture(t)
	for _, payload := range []string{"{not json", `{"job_id": 0}`, `{"job_id": 1, "fence": 1, "job_type": "no-such-type"}`} {
		err := f.w.Handle(context.Background(), asynq.NewTask(queue.TypeChunk, []byte(payload)))
		require.Error(t, err, payload)
		require.True(t, errors.Is(err, asynq.SkipRetry), "payload %s: %v", payload, err)
	}
	// A chunk of a job that does not exist will never succeed either.
	task, err := queue.NewChunkTask(jobs.Chunk{JobID: 999999, Seq: 0, Fence: 1}, "noop", "default")
	require.NoError(t, err)
	err = f.w.Handle(context.Background(), task)
	require.True(t, errors.Is(err, asynq.SkipRetry), fmt.Sprint(err))
}
