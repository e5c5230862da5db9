package engine_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
)

// fixture drives the engine one Step at a time and plays the worker by hand
// with the tasks it finds in Redis, so every test is deterministic.
type fixture struct {
	t     *testing.T
	db    *testenv.Database
	rd    *testenv.Redis
	store *jobs.Store
	eng   *engine.Engine
	w     *worker.Worker
	insp  *asynq.Inspector
	cat   *config.Config
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	db := testenv.NewDatabase(t)
	rd := testenv.NewRedis(t)
	opt, err := queue.RedisOpt(rd.URL)
	require.NoError(t, err)
	store := jobs.NewStore(db.Pool)
	eng, err := engine.New(store, opt, engine.Config{Catalog: cat, Kinds: workers.Kinds(), LostTaskAfter: time.Nanosecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	w, err := worker.New(store, opt, worker.Config{Catalog: cat, Kinds: workers.Kinds(), ID: "w1"})
	require.NoError(t, err)
	require.NoError(t, store.Heartbeat(context.Background(), "w1", "h", 1, 1))
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = insp.Close() })
	// As the leader does before any work: the guard's copy is built.
	require.NoError(t, eng.Reconcile(context.Background()))
	return &fixture{t: t, db: db, rd: rd, store: store, eng: eng, w: w, insp: insp, cat: cat}
}

func (f *fixture) submit(jobType string, raw map[string]string) *jobs.Job {
	f.t.Helper()
	jt, _ := f.cat.JobType(jobType)
	in, _ := f.cat.Institution("DEMO")
	params, err := jt.ResolveParams(in, raw)
	require.NoError(f.t, err)
	j, err := f.store.Insert(context.Background(), jobs.NewJob{Institution: "DEMO", Type: jobType, SubmittedBy: "t", Params: params, PriorityClass: jt.PriorityClass}, nil)
	require.NoError(f.t, err)
	return j
}

func (f *fixture) step() {
	f.t.Helper()
	require.NoError(f.t, f.eng.Step(context.Background()))
}

func (f *fixture) pending(q string) []*asynq.TaskInfo {
	f.t.Helper()
	tasks, err := f.insp.ListPendingTasks(q, asynq.PageSize(1000))
	if err != nil {
		return nil // queue not created yet
	}
	return tasks
}

// runQueued plays the worker: it handles every pending task of queue q once
// and deletes it, as asynq would after success.
func (f *fixture) runQueued(q string) int {
	f.t.Helper()
	tasks := f.pending(q)
	for _, ti := range tasks {
		require.NoError(f.t, f.w.Handle(context.Background(), asynq.NewTask(ti.Type, ti.Payload)))
		require.NoError(f.t, f.insp.DeleteTask(q, ti.ID))
	}
	return len(tasks)
}

func (f *fixture) status(id int64) jobs.Status {
	f.t.Helper()
	j, err := f.store.Get(context.Background(), id)
	require.NoError(f.t, err)
	return j.Status
}

func (f *fixture) runToEnd(id int64, q string) *jobs.Job {
	f.t.Helper()
	for i := 0; i < 1000 && !f.status(id).Terminal(); i++ {
		f.step()
		f.runQueued(q)
	}
	j, err := f.store.Get(context.Background(), id)
	require.NoError(f.t, err)
	return j
}

func TestEmptyPopulationEndsNoBulks(t *testing.T) {
	f := newFixture(t)
	j := f.submit("noop", map[string]string{"records": "0"})
	f.step()
	require.Equal(t, jobs.CompletedNoBulks, f.status(j.ID))
}

func TestAdmissionWindowAndRoundRobin(t *testing.T) {
	f := newFixture(t)
	window := f.cat.Admission.Window
	a := f.submit("noop", map[string]string{"records": "5000"}) // 50 chunks of 100
	b := f.submit("noop", map[string]string{"records": "300"})  // 3 chunks
	f.step()
	perJob := map[int64]int{}
	for _, ti := range f.pending("default") {
		p, err := queue.ParseChunkTask(asynq.NewTask(ti.Type, ti.Payload))
		require.NoError(t, err)
		perJob[p.JobID]++
		require.Equal(t, queue.TaskID(p.Chunk), ti.ID, "task ids carry the fence")
	}
	require.Equal(t, window, perJob[a.ID], "the big job is held to the window")
	require.Equal(t, 3, perJob[b.ID], "the small job is admitted beside it at once")

	// Admission does not exceed the window however often it runs.
	f.step()
	f.step()
	require.Len(t, f.pending("default"), window+3)

	jb := f.runToEnd(b.ID, "default")
	require.Equal(t, jobs.CompletedSuccess, jb.Status)
	ja := f.runToEnd(a.ID, "default")
	require.Equal(t, jobs.CompletedSuccess, ja.Status)
	require.Equal(t, int64(5000), ja.Counters["records"])
	var events []jobs.Status
	for _, e := range ja.Events {
		events = append(events, e.Status)
	}
	require.Equal(t, []jobs.Status{jobs.Queued, jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedSuccess}, events)
}

func TestRecordErrorsEndWithWarning(t *testing.T) {
	f := newFixture(t)
	j := f.submit("noop", map[string]string{"records": "250", "fail_every": "50"})
	got := f.runToEnd(j.ID, "default")
	require.Equal(t, jobs.CompletedWarning, got.Status)
	require.Equal(t, int64(5), got.Counters["errors"])
	require.Contains(t, got.Message, "5 records")
}

func TestFailedChunkEndsCompletedFailed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.submit("noop", map[string]string{"records": "200"})
	f.step()
	chunks, err := f.store.JobChunks(ctx, j.ID, "queued")
	require.NoError(t, err)
	require.NoError(t, f.store.FailChunk(ctx, chunks[0], "disk on fire"))
	got := f.runToEnd(j.ID, "default")
	require.Equal(t, jobs.CompletedFailed, got.Status)
	require.Len(t, got.Alerts, 1)
	require.Contains(t, got.Alerts[0], "disk on fire")
}

// TestRedisLostEverything: the reconciler re-admits, under a new fence, the
// queued chunks whose tasks Redis no longer holds; the job completes once.
func TestRedisLostEverything(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.submit("noop", map[string]string{"records": "1000", "fail_every": "1"})
	f.step()
	before := f.pending("default")
	require.NotEmpty(t, before)

	c := redis.NewClient(&redis.Options{Addr: f.rd.Addr, DB: f.rd.DB})
	defer c.Close()
	require.NoError(t, c.FlushDB(ctx).Err()) // our own throwaway server or DB index
	require.Empty(t, f.pending("default"))

	require.NoError(t, f.eng.Reconcile(ctx))
	open, err := f.store.JobChunks(ctx, j.ID, "pending")
	require.NoError(t, err)
	t.Logf("pending after reconcile: %d", len(open))
	f.step()
	after := f.pending("default")
	require.Len(t, after, len(before))
	for _, ti := range after {
		p, err := queue.ParseChunkTask(asynq.NewTask(ti.Type, ti.Payload))
		require.NoError(t, err)
		require.Equal(t, int64(2), p.Fence, "re-admitted under a new fence")
	}
	got := f.runToEnd(j.ID, "default")
	require.Equal(t, int64(1000), got.Counters["records"])
	var rows, distinct int
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT record_id) FROM job_report WHERE job_id = $1`, j.ID).Scan(&rows, &distinct))
	require.Equal(t, 1000, rows)
	require.Equal(t, 1000, distinct)
}

// TestDeadWorkersChunksReadmitted: a chunk started by a worker that stopped
// heartbeating goes back to pending and its stale task is dropped.
func TestDeadWorkersChunksReadmitted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.submit("noop", map[string]string{"records": "100"})
	f.step()
	chunks, err := f.store.JobChunks(ctx, j.ID, "queued")
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	require.NoError(t, f.store.Heartbeat(ctx, "ghost", "h", 2, 1))
	_, err = f.db.Pool.Exec(ctx, `UPDATE workers SET heartbeat_at = now() - interval '1 minute' WHERE id = 'ghost'`)
	require.NoError(t, err)
	ok, _, err := f.store.MarkStarted(ctx, chunks[0], "ghost")
	require.NoError(t, err)
	require.True(t, ok)

	require.NoError(t, f.eng.Reconcile(ctx))
	f.step()
	again, err := f.store.JobChunks(ctx, j.ID, "queued")
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, chunks[0].Fence+1, again[0].Fence)
	got := f.runToEnd(j.ID, "default")
	require.Equal(t, jobs.CompletedSuccess, got.Status)
}

func TestAbortStopsAdmissionAndCommits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	j := f.submit("noop", map[string]string{"records": "2000", "fail_every": "1"})
	f.step()
	f.runQueued("default") // some chunks commit
	f.step()               // refill
	require.NoError(t, f.eng.Abort(ctx, j.ID, "tester"))
	require.Empty(t, f.pending("default"), "queued tasks are deleted")
	f.step()
	require.Empty(t, f.pending("default"), "nothing is admitted after abort")
	got, err := f.store.Get(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.UserAborted, got.Status)
	require.Equal(t, int64(got.Progress.DoneRecords), got.Counters["records"], "counters hold what was committed")
	require.Equal(t, "aborted by tester", got.Message)

	var status jobs.Status
	require.ErrorContains(t, f.eng.Abort(ctx, j.ID, "tester"), "cannot move from USER_ABORTED")
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, j.ID).Scan(&status))
	require.Equal(t, jobs.UserAborted, status)
}

// TestFinishedJobFiresWorkflowTrigger: job.completed is emitted in the
// finalizing transaction and starts the trigger's job.
func TestFinishedJobFiresWorkflowTrigger(t *testing.T) {
	f := newFixture(t)
	f.cat.Triggers = append(f.cat.Triggers, config.Trigger{On: "job.completed",
		When: map[string]string{"type": "noop", "records": "7", "status": "COMPLETED_SUCCESS"},
		Run:  "noop", Params: map[string]string{"records": "8"}})
	first := f.submit("noop", map[string]string{"records": "7"})
	require.Equal(t, jobs.CompletedSuccess, f.runToEnd(first.ID, "default").Status)
	list, err := f.store.List(context.Background(), jobs.Filter{Type: "noop"})
	require.NoError(t, err)
	require.Len(t, list, 2)
	next := list[0]
	require.Equal(t, "workflow:job.completed", next.SubmittedBy)
	require.Equal(t, float64(8), next.Params["records"])
	require.Equal(t, jobs.CompletedSuccess, f.runToEnd(next.ID, "default").Status)
	list, err = f.store.List(context.Background(), jobs.Filter{Type: "noop"})
	require.NoError(t, err)
	require.Len(t, list, 2, "the trigger's condition stops the chain")
}

// TestRedisLostWhilePendingAndRunning: Redis restarts empty while A runs and
// B waits for it. After reconciliation nothing is lost, B runs only after A
// ended (their RUNNING intervals in PostgreSQL do not overlap) and both finish.
func TestRedisLostWhilePendingAndRunning(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	noop, _ := f.cat.JobType("noop")
	noop.WaitsFor = []string{"noop"} // each noop waits for the one before it
	g := f.eng.Guard()               // the Redis guard, as the server decides
	jt, _ := f.cat.JobType("noop")
	in, _ := f.cat.Institution("DEMO")
	submit := func(raw map[string]string) *jobs.Job {
		params, err := jt.ResolveParams(in, raw)
		require.NoError(t, err)
		j, err := f.store.Insert(ctx, jobs.NewJob{Institution: "DEMO", Type: "noop", SubmittedBy: "t", Params: params, PriorityClass: "default"}, g)
		require.NoError(t, err)
		return j
	}
	a := submit(map[string]string{"records": "3000", "fail_every": "1"})
	require.Equal(t, jobs.Queued, a.Status)
	f.step()
	b := submit(map[string]string{"records": "500", "fail_every": "1"})
	require.Equal(t, jobs.Pending, b.Status)
	f.runQueued("default")

	f.rd.Restart(t) // Redis lost everything
	require.Empty(t, f.pending("default"))
	require.Empty(t, f.guardCopy(), "the guard's copy is gone too")
	// The reconciler rebuilds the copy from PostgreSQL before anything else.
	require.NoError(t, f.eng.Reconcile(ctx))
	require.Equal(t, map[string]string{strconv.FormatInt(a.ID, 10): "A", strconv.FormatInt(b.ID, 10): "P", "epoch": "2"}, f.guardCopy())

	ja := f.runToEnd(a.ID, "default")
	require.Equal(t, jobs.CompletedWarning, ja.Status) // fail_every reports every record
	require.Equal(t, int64(3000), ja.Counters["records"])
	jb := f.runToEnd(b.ID, "default")
	require.Equal(t, int64(500), jb.Counters["records"])

	var overlap bool
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT tstzrange(a.started_at, a.ended_at) && tstzrange(b.started_at, b.ended_at)
		FROM jobs a, jobs b WHERE a.id = $1 AND b.id = $2`, a.ID, b.ID).Scan(&overlap))
	require.False(t, overlap, "B ran while A ran")
	require.Equal(t, map[string]string{"epoch": "2"}, f.guardCopy(), "ended jobs leave the copy")
	var rows, distinct int
	require.NoError(t, f.db.Pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (job_id, record_id)) FROM job_report`).Scan(&rows, &distinct))
	require.Equal(t, 3500, rows)
	require.Equal(t, rows, distinct, "no record processed twice")
}

// guardCopy returns the guard's Redis copy of DEMO as field -> state (the
// epoch field as is).
func (f *fixture) guardCopy() map[string]string {
	f.t.Helper()
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: f.rd.Addr, DB: f.rd.DB})
	defer c.Close()
	h, err := c.HGetAll(ctx, "bindery:guard:{DEMO}").Result()
	require.NoError(f.t, err)
	keys, err := c.Keys(ctx, "bindery:guard:{DEMO}:*").Result()
	require.NoError(f.t, err)
	for _, k := range keys {
		jobs, err := c.HGetAll(ctx, k).Result()
		require.NoError(f.t, err)
		for id, v := range jobs {
			h[id] = v[:1]
		}
	}
	return h
}

// TestPromotionWaitsForGuardRebuild: Redis loses the guard's copy while B
// waits for A, which has just ended. The engine promotes nothing on the lost
// copy (its step reports it, and the leader reconciles at once); after the
// rebuild B is promoted and runs.
func TestPromotionWaitsForGuardRebuild(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	noop, _ := f.cat.JobType("noop")
	noop.WaitsFor = []string{"noop"}
	jt, _ := f.cat.JobType("noop")
	in, _ := f.cat.Institution("DEMO")
	params, err := jt.ResolveParams(in, map[string]string{"records": "100"})
	require.NoError(t, err)
	nj := jobs.NewJob{Institution: "DEMO", Type: "noop", SubmittedBy: "t", Params: params, PriorityClass: "default"}
	a, err := f.store.Insert(ctx, nj, f.eng.Guard())
	require.NoError(t, err)
	b, err := f.store.Insert(ctx, nj, f.eng.Guard())
	require.NoError(t, err)
	require.Equal(t, jobs.Pending, b.Status)
	require.Equal(t, jobs.CompletedSuccess, f.runToEnd(a.ID, "default").Status)
	require.Equal(t, jobs.Pending, f.status(b.ID))
	require.NotContains(t, f.guardCopy(), strconv.FormatInt(a.ID, 10), "A left the copy when it ended")

	f.rd.Restart(t)
	require.ErrorIs(t, f.eng.Step(ctx), guard.ErrLost)
	require.Equal(t, jobs.Pending, f.status(b.ID))
	require.NoError(t, f.eng.Reconcile(ctx))
	require.Equal(t, map[string]string{strconv.FormatInt(b.ID, 10): "P", "epoch": "2"}, f.guardCopy())
	require.Equal(t, jobs.CompletedSuccess, f.runToEnd(b.ID, "default").Status)
}

// A Plan that returns jobs.NothingToDo ends the job COMPLETED_NO_BULKS with
// its reason as the message (here: reverting an import that changed nothing).
func TestNothingToDoEndsNoBulksWithTheReason(t *testing.T) {
	f := newFixture(t)
	imp, err := f.store.Insert(context.Background(), jobs.NewJob{Institution: "DEMO", Type: "metadata-import", SubmittedBy: "t",
		Params: map[string]any{"profile": "vendor-bibs"}, PriorityClass: "default"}, nil)
	require.NoError(t, err)
	_, err = f.db.Pool.Exec(context.Background(), `UPDATE jobs SET status = 'COMPLETED_SUCCESS' WHERE id = $1`, imp.ID)
	require.NoError(t, err)
	j := f.submit("import-revert", map[string]string{"job": strconv.FormatInt(imp.ID, 10)})
	f.step()
	got, err := f.store.Get(context.Background(), j.ID)
	require.NoError(t, err)
	require.Equal(t, jobs.CompletedNoBulks, got.Status)
	require.Equal(t, fmt.Sprintf("nothing to revert: job %d created or changed no record", imp.ID), got.Message)
}
