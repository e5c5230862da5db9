// Package engine is the server side of the job lifecycle: it initializes
// queued jobs (population into the chunk ledger), admits chunks into asynq,
// finalizes finished jobs, reconciles the ledger with Redis and aborts jobs.
//
// One server at a time runs the loop (a PostgreSQL advisory lock elects it);
// any server may abort. PostgreSQL is the truth: every step is idempotent and
// can be repeated after a crash of the server, a worker, Redis or PostgreSQL.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/metrics"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/schedule"
	"github.com/bindery/bindery/pkg/workflow"
)

// leaderLock is the advisory lock key of the engine loop ("bindery-engine").
const leaderLock = 0x62696e6465726e

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	Catalog *config.Config
	Kinds   map[string]jobs.Kind
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// Tick is the longest the loop sleeps when nothing wakes it.
	Tick time.Duration
	// ReconcileEvery is how often the reconciler runs.
	ReconcileEvery time.Duration
	// WorkerDeadAfter is the heartbeat age at which a worker counts as dead.
	WorkerDeadAfter time.Duration
	// LostTaskAfter is how long a queued chunk may be absent from Redis
	// before it is re-admitted (covers the admit-then-enqueue window).
	LostTaskAfter time.Duration
	// Clock tells the time peak windows are judged by (default time.Now).
	Clock func() time.Time
	// Probe times one PostgreSQL round trip for load-aware admission
	// (default: SELECT 1 on the store's pool). Tests wrap it to add latency.
	Probe func(context.Context) (time.Duration, error)
	// FIFO turns fair admission off: every running job is topped up to its
	// window, oldest first, with no fleet window, peak cap or load control
	// (the admission before fair shares; benchmarks compare the two).
	FIFO bool
	// GuardLeaseGrace is how long the guard's Redis copy may hold a lease of
	// a job PostgreSQL does not have before the reconciler releases it
	// (guard.Config.LeaseGrace; default 1 minute).
	GuardLeaseGrace time.Duration
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New()
	}
	if c.Tick == 0 {
		c.Tick = 500 * time.Millisecond
	}
	if c.ReconcileEvery == 0 {
		c.ReconcileEvery = 2 * time.Second
	}
	if c.WorkerDeadAfter == 0 {
		c.WorkerDeadAfter = 5 * time.Second
	}
	if c.LostTaskAfter == 0 {
		c.LostTaskAfter = 3 * time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Engine drives jobs through their lifecycle.
type Engine struct {
	cfg       Config
	store     *jobs.Store
	client    *asynq.Client
	inspector *asynq.Inspector
	log       *slog.Logger
	redis     asynq.RedisConnOpt
	guard     *guard.Guard
	guardM    *guardMetrics
	rdb       redis.UniversalClient
	waker     *queue.Waker
	sched     *schedule.Scheduler
	flow      *workflow.Runner
	rr        int             // round-robin start among running jobs
	enqueued  map[string]bool // queues this client has enqueued to
	fair      *fairState
}

// New returns an engine. It owns neither the store nor the Redis connection.
func New(store *jobs.Store, redisOpt asynq.RedisConnOpt, cfg Config) (*Engine, error) {
	cfg.withDefaults()
	if cfg.Catalog == nil {
		return nil, errors.New("engine: Catalog is required")
	}
	if cfg.Kinds == nil {
		return nil, errors.New("engine: Kinds is required")
	}
	rdb, ok := redisOpt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("engine: the Redis connection option makes no go-redis client")
	}
	// The leader rebuilds a lost guard copy itself: its decisions never
	// wait for one (RebuildWait < 0), the loop reconciles instead.
	g, err := guard.New(cfg.Catalog, rdb, guard.Config{Logger: cfg.Logger.With("component", "guard"),
		LeaseGrace: cfg.GuardLeaseGrace, RebuildWait: -1})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	e := &Engine{
		cfg:       cfg,
		store:     store,
		client:    asynq.NewClient(redisOpt),
		inspector: asynq.NewInspector(redisOpt),
		log:       cfg.Logger.With("component", "engine"),
		redis:     redisOpt,
		guard:     g,
		guardM:    newGuardMetrics(cfg.Metrics.Registry),
		rdb:       rdb,
		waker:     queue.NewWaker(redisOpt),
		flow:      &workflow.Runner{Store: store, Catalog: cfg.Catalog, Guard: g},
		sched: &schedule.Scheduler{Store: store, Catalog: cfg.Catalog, Guard: g,
			Grace: time.Minute, Logger: cfg.Logger.With("component", "scheduler")},
		enqueued: map[string]bool{},
	}
	e.fair = newFairState(e)
	return e, nil
}

// Guard returns the engine's guard (Redis-backed, the engine's connection).
func (e *Engine) Guard() *guard.Guard { return e.guard }

// Close releases the engine's Redis connections.
func (e *Engine) Close() error {
	return errors.Join(e.client.Close(), e.inspector.Close(), e.waker.Close(), e.rdb.Close())
}

// Run runs the loop until ctx ends. While another server holds the leader
// lock it waits, so a standby takes over within one tick of a leader's death.
func (e *Engine) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := e.lead(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			e.log.Warn("engine loop interrupted; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.cfg.Tick):
		}
	}
	return nil
}

// lead holds leadership on one connection and runs steps until an error.
func (e *Engine) lead(ctx context.Context) error {
	conn, err := e.store.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var leader bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLock).Scan(&leader); err != nil {
		return err
	}
	if !leader {
		return nil
	}
	defer func() {
		// A lock left on a pooled connection would outlive this leadership.
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock_all()`)
	}()
	wake, stop := e.waker.Subscribe(ctx)
	defer stop()
	e.log.Info("engine leading")
	tick := time.NewTimer(0)
	defer tick.Stop()
	lastReconcile := time.Time{}
	for {
		if time.Since(lastReconcile) >= e.cfg.ReconcileEvery {
			// The leader's connection holds the lock: if it is gone, so is
			// the leadership.
			if err := conn.Ping(ctx); err != nil {
				return err
			}
			if err := e.Reconcile(ctx); err != nil {
				return err
			}
			lastReconcile = time.Now()
		}
		if err := e.Step(ctx); err != nil {
			if !guardLost(err) {
				return err
			}
			// Redis lost the guard's copy since the last pass: rebuild it
			// before anything else is decided.
			e.log.Warn("guard copy lost; reconciling at once", "err", err)
			lastReconcile = time.Time{}
			continue
		}
		// Sleep until a wake-up (job submitted, chunk committed) or the tick.
		tick.Reset(e.cfg.Tick)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-tick.C:
		}
	}
}

// Step runs one pass: due schedules fire, pending jobs whose predecessors
// finished are promoted, then initialization, admission and finalization.
func (e *Engine) Step(ctx context.Context) error {
	snap, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	if !snap.NextSchedule.IsZero() && !snap.NextSchedule.After(e.sched.NowTime()) {
		if _, err := e.sched.Fire(ctx); err != nil {
			return fmt.Errorf("schedules: %w", err)
		}
	}
	// A promotion or an initialization changes what the next actions see:
	// read the snapshot again only then, so a quiet step stays one query.
	promoted, err := e.promote(ctx, snap.ByStatus(jobs.Pending))
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	if promoted > 0 {
		if snap, err = e.snapshot(ctx); err != nil {
			return err
		}
	}
	started, err := e.initialize(ctx, snap)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if started > 0 {
		if snap, err = e.snapshot(ctx); err != nil {
			return err
		}
	}
	running := snap.ByStatus(jobs.Running)
	admit := e.admitFair
	if e.cfg.FIFO {
		admit = e.admitFIFO
	}
	if err := admit(ctx, snap, running); err != nil {
		return fmt.Errorf("admit: %w", err)
	}
	if err := e.finalize(ctx, running, snap.ByStatus(jobs.Finalizing)); err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	return nil
}

// guardLost reports whether err means the guard's Redis copy must be
// rebuilt (or its epoch is not PostgreSQL's) before deciding again.
func guardLost(err error) bool {
	return errors.Is(err, guard.ErrLost) || errors.Is(err, jobs.ErrStaleEpoch)
}

// promote lets PENDING jobs whose predecessors finished go QUEUED.
func (e *Engine) promote(ctx context.Context, pending []jobs.ActiveJob) (int, error) {
	seen := map[string]bool{}
	total := 0
	for _, p := range pending {
		if seen[p.Institution] {
			continue
		}
		seen[p.Institution] = true
		n, err := e.guard.Promote(ctx, e.store, p.Institution)
		if err != nil {
			return total, fmt.Errorf("institution %s: %w", p.Institution, err)
		}
		if n > 0 {
			e.log.Info("pending jobs promoted", "institution", p.Institution, "count", n)
		}
		total += n
	}
	return total, nil
}

// initialize moves QUEUED jobs to INITIALIZING and resolves the population of
// INITIALIZING ones (including those a crashed server left there) into the
// chunk ledger, then starts them RUNNING, or ends them COMPLETED_NO_BULKS.
func (e *Engine) initialize(ctx context.Context, snap *jobs.Snapshot) (int, error) {
	var todo []jobs.ActiveJob
	for _, q := range snap.ByStatus(jobs.Queued) {
		err := e.store.Transition(ctx, e.store.Pool, q.ID, jobs.Initializing, "")
		var te *jobs.TransitionError
		if err != nil && !errors.As(err, &te) {
			return 0, err
		}
		if err == nil {
			todo = append(todo, q)
		}
	}
	todo = append(todo, snap.ByStatus(jobs.Initializing)...)
	for _, j := range todo {
		if err := e.initializeOne(ctx, j.ID); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			e.log.Error("job initialization failed", "job", j.ID, "err", err)
			if terr := e.store.Transition(ctx, e.store.Pool, j.ID, jobs.Failed, "initialization failed: "+err.Error()); terr != nil {
				e.log.Error("cannot mark job failed", "job", j.ID, "err", terr)
			} else {
				e.guard.Forget(ctx, j.Institution, j.Type, j.ID)
			}
		}
	}
	return len(todo), nil
}

func (e *Engine) initializeOne(ctx context.Context, id int64) error {
	var ended *jobs.Job
	err := pgx.BeginFunc(ctx, e.store.Pool, func(tx pgx.Tx) error {
		job, err := e.store.LockJob(ctx, tx, id, jobs.Initializing)
		if errors.Is(err, jobs.ErrNotFound) {
			return nil // another server has it, or it moved on
		}
		if err != nil {
			return err
		}
		kind, ok := e.cfg.Kinds[job.Type]
		jt, okType := e.cfg.Catalog.JobType(job.Type)
		if !ok || !okType {
			return fmt.Errorf("job type %q is not known to this server", job.Type)
		}
		// A retried initialization starts from an empty ledger.
		if _, err := tx.Exec(ctx, `DELETE FROM chunks WHERE job_id = $1`, id); err != nil {
			return err
		}
		if err := kind.Plan(ctx, tx, job, jt.ChunkSize); err != nil {
			if nothing := (*jobs.NothingToDo)(nil); errors.As(err, &nothing) {
				ended = job
				return e.store.Transition(ctx, tx, id, jobs.CompletedNoBulks, nothing.Reason)
			}
			return err
		}
		chunks, records, err := e.store.SetPopulation(ctx, tx, id)
		if err != nil {
			return err
		}
		if chunks == 0 {
			ended = job
			return e.store.Transition(ctx, tx, id, jobs.CompletedNoBulks, "the job's population is empty")
		}
		e.log.Info("job initialized", "job", id, "type", job.Type, "chunks", chunks, "records", records)
		e.cfg.Metrics.JobWait.WithLabelValues(job.PriorityClass).Observe(time.Since(job.SubmittedAt).Seconds())
		return e.store.Transition(ctx, tx, id, jobs.Running, "")
	})
	if err == nil && ended != nil {
		e.guard.Forget(ctx, ended.Institution, ended.Type, id)
	}
	return err
}

// admitFIFO tops up every running job to the admission window, starting the
// round-robin at a different job each pass so no job is always first.
func (e *Engine) admitFIFO(ctx context.Context, _ *jobs.Snapshot, running []jobs.ActiveJob) error {
	if len(running) == 0 {
		return nil
	}
	window := e.cfg.Catalog.Admission.Window
	e.rr++
	for i := range running {
		j := running[(i+e.rr)%len(running)]
		free := window - j.Queued
		// Refill at the low-water mark (half the window), not on every
		// commit: one admission round trip then feeds several chunks.
		if j.Pending == 0 || free <= 0 || (j.Queued > 0 && free < (window+1)/2) {
			continue
		}
		chunks, err := e.store.Admit(ctx, j.ID, free)
		if err != nil {
			return err
		}
		for _, c := range chunks {
			if err := e.enqueue(ctx, c, j.Type, j.PriorityClass); err != nil {
				// The reconciler re-admits it once it sees the task missing.
				e.log.Warn("enqueue failed", "job", j.ID, "chunk", c.Seq, "err", err)
				return nil
			}
			e.cfg.Metrics.ChunksAdmitted.WithLabelValues(j.Institution, j.PriorityClass).Inc()
		}
	}
	return nil
}

func (e *Engine) enqueue(ctx context.Context, c jobs.Chunk, jobType, class string) error {
	task, err := queue.NewChunkTask(c, jobType, class)
	if err != nil {
		return err
	}
	_, err = e.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already enqueued under this fence
	}
	if err == nil {
		e.enqueued[class] = true
	}
	return err
}

// finalize takes every running job with no open chunk through FINALIZING to
// its terminal status, and finishes jobs a crashed server left FINALIZING.
func (e *Engine) finalize(ctx context.Context, running, finalizing []jobs.ActiveJob) error {
	var ids []int64
	for _, j := range running {
		if j.Pending+j.Queued > 0 {
			continue
		}
		err := e.store.Transition(ctx, e.store.Pool, j.ID, jobs.Finalizing, "")
		var te *jobs.TransitionError
		if err != nil && !errors.As(err, &te) {
			return err
		}
		if err == nil {
			ids = append(ids, j.ID)
		}
	}
	for _, j := range finalizing {
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		if err := e.finalizeOne(ctx, id); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
	}
	return nil
}

func (e *Engine) finalizeOne(ctx context.Context, id int64) error {
	var final jobs.Status
	var jobType, institution string
	err := pgx.BeginFunc(ctx, e.store.Pool, func(tx pgx.Tx) error {
		job, err := e.store.LockJob(ctx, tx, id, jobs.Finalizing)
		if errors.Is(err, jobs.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		jobType, institution = job.Type, job.Institution
		sum, err := e.store.Summary(ctx, tx, id)
		if err != nil {
			return err
		}
		counters, err := e.store.SumCounters(ctx, tx, id)
		if err != nil {
			return err
		}
		var alerts []string
		msg := ""
		switch {
		case sum.Failed > 0:
			final = jobs.CompletedFailed
			sort.Strings(sum.FailReasons)
			alerts = sum.FailReasons
			msg = fmt.Sprintf("%d of %d chunks failed after retries", sum.Failed, sum.Total)
		case sum.Problems > 0:
			final = jobs.CompletedWarning
			msg = fmt.Sprintf("%d records reported a warning or an error; see the report", sum.Problems)
		default:
			final = jobs.CompletedSuccess
		}
		if f, ok := e.cfg.Kinds[job.Type].(jobs.Finalizer); ok {
			out := jobs.Outcome{Status: final, Message: msg, Alerts: alerts}
			if err := f.Finalize(ctx, tx, job, &out); err != nil {
				return fmt.Errorf("finalize: %w", err)
			}
			final, msg, alerts = out.Status, out.Message, out.Alerts
		}
		if err := e.store.Finish(ctx, tx, id, counters, alerts); err != nil {
			return err
		}
		if c, ok := e.cfg.Kinds[job.Type].(jobs.Cleaner); ok {
			if err := c.Cleanup(ctx, tx, job); err != nil {
				return fmt.Errorf("cleanup: %w", err)
			}
		}
		if err := e.store.Transition(ctx, tx, id, final, msg); err != nil {
			return err
		}
		// Workflow triggers fire in the same transaction: a finished job
		// and the jobs it starts commit together, or neither does.
		// A misconfigured trigger must not keep the job from finishing: its
		// part is rolled back to a savepoint and logged.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		ev, err := e.flow.Emit(ctx, sp, job.Institution, workflow.JobCompleted, "engine", workflow.CompletedPayload(job, final))
		var werr *workflow.Error
		if errors.As(err, &werr) {
			e.log.Error("workflow trigger misconfigured; no job started", "job", id, "err", err)
			return sp.Rollback(ctx)
		}
		if err != nil {
			return err
		}
		if len(ev.Jobs) > 0 {
			e.log.Info("workflow jobs started", "after_job", id, "jobs", len(ev.Jobs))
		}
		return sp.Commit(ctx)
	})
	if err == nil && final != "" {
		e.guard.Forget(ctx, institution, jobType, id)
		e.log.Info("job finished", "job", id, "status", final)
		e.cfg.Metrics.JobsFinished.WithLabelValues(jobType, string(final)).Inc()
	}
	return err
}
