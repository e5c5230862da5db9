// Package worker runs chunk tasks: a stateless asynq server whose handler
// processes one chunk of a job inside one PostgreSQL transaction, together
// with the chunk's ledger row, so a chunk's effect happens exactly once.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/metrics"
	"github.com/bindery/bindery/pkg/queue"
)

// Config tunes a worker. Zero values take the defaults.
type Config struct {
	Catalog     *config.Config
	Kinds       map[string]jobs.Kind
	Concurrency int
	Logger      *slog.Logger
	Metrics     *metrics.Metrics
	// ID names this worker in the ledger; default host:pid:start.
	ID string
	// HeartbeatEvery is how often the worker tells PostgreSQL it is alive.
	HeartbeatEvery time.Duration
	// ShutdownTimeout is how long in-flight chunks get to finish at SIGTERM
	// before they are cancelled (and roll back).
	ShutdownTimeout time.Duration
}

// Worker is one worker process's asynq server and heartbeat.
type Worker struct {
	cfg   Config
	store *jobs.Store
	redis asynq.RedisConnOpt
	log   *slog.Logger
	host  string

	// jobs caches job rows by id: what a chunk needs of its job (type,
	// institution, parameters, submit time) never changes, and whether the
	// job still runs is checked by MarkStarted and again at commit.
	mu   sync.Mutex
	jobs map[int64]*jobs.Job

	waker *queue.Waker // tells the engine a chunk ended, so it refills at once
	rdb   goredis.UniversalClient
	sem   *fair.Semaphore // the fleet-wide peak cap on bulk chunks
}

// ErrCapped defers a bulk chunk whose institution's peak cap is full: asynq
// retries it shortly, without counting a failure.
var ErrCapped = errors.New("bulk chunk deferred: the institution's peak-hour cap is full")

// cappedRetry is how soon a deferred bulk chunk is tried again (plus jitter).
const cappedRetry = 250 * time.Millisecond

// maxCachedJobs bounds the job cache; it is simply emptied when full.
const maxCachedJobs = 256

func (w *Worker) job(ctx context.Context, id int64) (*jobs.Job, error) {
	w.mu.Lock()
	j, ok := w.jobs[id]
	w.mu.Unlock()
	if ok {
		return j, nil
	}
	j, err := w.store.Row(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.Status != jobs.Running {
		return j, nil // not cached: a job that is not running yet or any more
	}
	w.mu.Lock()
	if len(w.jobs) >= maxCachedJobs {
		clear(w.jobs)
	}
	w.jobs[id] = j
	w.mu.Unlock()
	return j, nil
}

// New returns a worker. It owns neither the store nor Redis.
func New(store *jobs.Store, redis asynq.RedisConnOpt, cfg Config) (*Worker, error) {
	if cfg.Catalog == nil || cfg.Kinds == nil {
		return nil, errors.New("worker: Catalog and Kinds are required")
	}
	host, _ := os.Hostname()
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("%s:%d:%d", host, os.Getpid(), time.Now().UnixNano())
	}
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	rdb := redis.MakeRedisClient().(goredis.UniversalClient)
	return &Worker{cfg: cfg, store: store, redis: redis, log: cfg.Logger.With("component", "worker", "worker", cfg.ID),
		host: host, jobs: map[int64]*jobs.Job{}, waker: queue.NewWaker(redis),
		rdb: rdb, sem: fair.NewSemaphore(rdb, cfg.Catalog.Admission.CapLease)}, nil
}

// ID is the worker's name in the ledger.
func (w *Worker) ID() string { return w.cfg.ID }

// Run serves chunk tasks until ctx ends, then shuts down gracefully: no new
// task starts, in-flight chunks get ShutdownTimeout to commit, the rest are
// cancelled and roll back, and the worker leaves the heartbeat table.
func (w *Worker) Run(ctx context.Context) error {
	defer w.waker.Close()
	defer w.rdb.Close()
	if err := w.store.Heartbeat(ctx, w.cfg.ID, w.host, os.Getpid(), w.cfg.Concurrency); err != nil {
		return fmt.Errorf("worker: first heartbeat: %w", err)
	}
	srv := asynq.NewServer(w.redis, asynq.Config{
		Concurrency:     w.cfg.Concurrency,
		Queues:          w.cfg.Catalog.Queues,
		Logger:          queue.SlogLogger{L: w.log},
		LogLevel:        asynq.WarnLevel,
		ShutdownTimeout: w.cfg.ShutdownTimeout,
		// asynq sleeps this long when the queues are empty; the default (1 s)
		// would stall every admission refill.
		TaskCheckInterval: 20 * time.Millisecond,
		// Deferred (capped) bulk chunks come back from the retry set this
		// often; the default (5 s) would idle the cap's slots.
		DelayedTaskCheckInterval: cappedRetry,
		// Retries come fast: the fence makes a retry safe, and a chunk that
		// failed for a passing reason (a PostgreSQL restart) should go on soon.
		RetryDelayFunc: func(n int, err error, _ *asynq.Task) time.Duration {
			if errors.Is(err, ErrCapped) {
				return cappedRetry + rand.N(cappedRetry)
			}
			return time.Duration(n+1) * time.Second
		},
		// A cancelled handler (abort, shutdown) is not the task's failure,
		// nor is a bulk chunk deferred by its peak cap.
		IsFailure: func(err error) bool {
			return !errors.Is(err, context.Canceled) && !errors.Is(err, ErrCapped)
		},
		ErrorHandler: asynq.ErrorHandlerFunc(w.onError),
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeChunk, w.Handle)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency)
	tick := time.NewTicker(w.cfg.HeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			srv.Shutdown()
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w.store.Deregister(dctx, w.cfg.ID); err != nil {
				w.log.Warn("deregister failed", "err", err)
			}
			w.log.Info("worker stopped")
			return nil
		case <-tick.C:
			if err := w.store.Heartbeat(ctx, w.cfg.ID, w.host, os.Getpid(), w.cfg.Concurrency); err != nil && ctx.Err() == nil {
				w.log.Warn("heartbeat failed", "err", err)
			}
		}
	}
}

// onError marks a chunk failed once asynq has spent its retries on it.
func (w *Worker) onError(ctx context.Context, t *asynq.Task, err error) {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	p, perr := queue.ParseChunkTask(t)
	if perr != nil {
		w.log.Error("undecodable chunk task dropped", "err", err)
		return
	}
	if errors.Is(err, ErrCapped) {
		return
	}
	if retried < maxRetry && !errors.Is(err, asynq.SkipRetry) {
		w.log.Warn("chunk failed, will retry", "job", p.JobID, "chunk", p.Seq, "retry", retried, "err", err)
		return
	}
	w.log.Error("chunk failed for good", "job", p.JobID, "chunk", p.Seq, "err", err)
	if ferr := w.store.FailChunk(context.WithoutCancel(ctx), p.Chunk, err.Error()); ferr != nil {
		w.log.Error("cannot mark chunk failed", "job", p.JobID, "chunk", p.Seq, "err", ferr)
	}
	w.waker.Wake(context.WithoutCancel(ctx))
}

// Handle processes one chunk task. A stale delivery (re-admitted since,
// already committed, or its job no longer running) returns nil: nothing to do.
func (w *Worker) Handle(ctx context.Context, t *asynq.Task) error {
	p, err := queue.ParseChunkTask(t)
	if err != nil {
		return err
	}
	kind, ok := w.cfg.Kinds[p.JobType]
	if !ok {
		return fmt.Errorf("chunk of job %d: job type %q unknown to this worker: %w", p.JobID, p.JobType, asynq.SkipRetry)
	}
	job, err := w.job(ctx, p.JobID)
	if errors.Is(err, jobs.ErrNotFound) {
		return fmt.Errorf("chunk of job %d: no such job: %w", p.JobID, asynq.SkipRetry)
	}
	if err != nil {
		return err
	}
	if job.Status != jobs.Running {
		w.cfg.Metrics.StaleDeliveries.Inc()
		return nil
	}
	// The queue a task came from is its class (tests calling Handle
	// directly have none: no cap).
	class, _ := asynq.GetQueueName(ctx)
	if class == config.ClassBulk {
		holder := w.cfg.ID + "|" + queue.TaskID(p.Chunk)
		ok, err := w.sem.Acquire(ctx, job.Institution, holder)
		if err != nil {
			return err
		}
		if !ok {
			w.cfg.Metrics.CapBounces.WithLabelValues(job.Institution).Inc()
			return ErrCapped
		}
		defer w.sem.Hold(ctx, job.Institution, holder)()
	}
	started, waited, err := w.store.MarkStarted(ctx, p.Chunk, w.cfg.ID)
	if err != nil {
		return err
	}
	if !started {
		w.cfg.Metrics.StaleDeliveries.Inc()
		return nil
	}
	w.cfg.Metrics.QueueWait.WithLabelValues(class).Observe(waited.Seconds())
	begin := time.Now()
	err = pgx.BeginFunc(ctx, w.store.Pool, func(tx pgx.Tx) error {
		// A chunk's commit need not wait for the disk (measured: 2.5x the
		// chunk rate here). If PostgreSQL crashes and loses it, it loses the
		// chunk's effects and its ledger row together (one transaction), and
		// the reconciler re-admits the chunk: still exactly once. The job's
		// terminal status is committed synchronously by the engine, which
		// flushes the WAL of every chunk before it, so a job reported
		// finished is durable.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		var res jobs.ChunkResult
		if err := kind.Process(ctx, tx, job, p.Chunk, &res); err != nil {
			return err
		}
		return w.store.CommitChunk(ctx, tx, p.Chunk, &res)
	})
	if errors.Is(err, jobs.ErrStaleFence) {
		w.cfg.Metrics.StaleDeliveries.Inc()
		return nil
	}
	if err != nil {
		return fmt.Errorf("chunk %d of job %d: %w", p.Seq, p.JobID, err)
	}
	w.waker.Wake(ctx)
	w.cfg.Metrics.ChunksCommitted.WithLabelValues(p.JobType).Inc()
	w.cfg.Metrics.ChunksCompleted.WithLabelValues(job.Institution, class).Inc()
	w.cfg.Metrics.ChunkSeconds.WithLabelValues(p.JobType).Observe(time.Since(begin).Seconds())
	return nil
}
