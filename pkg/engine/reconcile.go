package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
)

// Reconcile repairs the difference between the ledger and Redis: a queued
// chunk whose worker stopped heartbeating, or whose task Redis no longer
// holds (Redis restarted empty, or the server died between admission and
// enqueue), goes back to pending and is re-admitted under a new fence. The
// old delivery, if it ever runs, finds its fence stale.
func (e *Engine) Reconcile(ctx context.Context) error {
	// The guard's copy in Redis first: rebuilt from PostgreSQL if Redis
	// lost it, before any work is decided or admitted.
	rep, err := e.guard.Reconcile(ctx, e.store)
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	e.guardM.observe(rep)
	if err := e.republishQueues(); err != nil {
		return err
	}
	queued, err := e.store.QueuedChunks(ctx, e.cfg.WorkerDeadAfter.Seconds())
	if err != nil {
		return err
	}
	var active map[string]bool // asynq's view of running tasks, fetched when needed
	for _, q := range queued {
		reason := ""
		switch {
		case q.WorkerID != "" && !q.WorkerAlive:
			reason = "worker " + q.WorkerID + " stopped heartbeating"
		case q.AgeSeconds >= e.cfg.LostTaskAfter.Seconds():
			info, err := e.inspector.GetTaskInfo(q.Class, queue.TaskID(q.Chunk))
			switch {
			case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
				reason = "task missing from Redis"
			case err != nil:
				return err
			case info.State == asynq.TaskStateActive && q.WorkerID == "" && q.AgeSeconds >= orphanAfter.Seconds():
				// Taken by a worker that died before marking the chunk
				// started: no live asynq server lists the task as active.
				if active == nil {
					if active, err = e.activeTaskIDs(); err != nil {
						return err
					}
				}
				if !active[info.ID] {
					reason = "task taken by a worker that is gone"
				}
			}
		}
		if reason == "" {
			continue
		}
		released, err := e.store.Release(ctx, q.Chunk)
		if err != nil {
			return err
		}
		if released {
			// Best effort: drop the stale task so it does not run for nothing.
			_ = e.inspector.DeleteTask(q.Class, queue.TaskID(q.Chunk))
			e.cfg.Metrics.ChunksReadmitted.Inc()
			e.log.Warn("chunk re-admitted", "job", q.JobID, "chunk", q.Seq, "old_fence", q.Fence, "reason", reason)
		}
	}
	// Forget workers long dead.
	_, err = e.store.Pool.Exec(ctx, `DELETE FROM workers WHERE heartbeat_at < now() - interval '1 day'`)
	return err
}

// orphanAfter is how long a taken but never started chunk waits before the
// reconciler asks asynq who runs it: asynq servers publish their active
// tasks every 5 s and their record outlives them by up to 10 s.
const orphanAfter = 15 * time.Second

// activeTaskIDs returns the ids of tasks live asynq servers report running.
func (e *Engine) activeTaskIDs() (map[string]bool, error) {
	servers, err := e.inspector.Servers()
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, s := range servers {
		for _, w := range s.ActiveWorkers {
			ids[w.TaskID] = true
		}
	}
	return ids, nil
}

// republishQueues repairs asynq's queue registry after Redis lost its data:
// asynq's client registers a queue only on its first enqueue (it caches
// that), so after a flush the queues would stay invisible to the inspector and
// the dashboard. A fresh client registers them again on its next enqueue.
func (e *Engine) republishQueues() error {
	known, err := e.inspector.Queues()
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(known))
	for _, q := range known {
		have[q] = true
	}
	for q := range e.cfg.Catalog.Queues {
		if !have[q] && e.enqueued[q] {
			e.log.Warn("queue missing from Redis (Redis lost its data?); reconnecting the queue client", "queue", q)
			_ = e.client.Close()
			e.client = asynq.NewClient(e.redis)
			clear(e.enqueued)
			return nil
		}
	}
	return nil
}

// Abort ends a job USER_ABORTED: no chunk is admitted or committed after it
// (commits check the job's status under a row lock), queued tasks are deleted
// and running handlers are cancelled; they roll back between records.
func (e *Engine) Abort(ctx context.Context, jobID int64, by string) error {
	job, err := e.store.Get(ctx, jobID)
	if err != nil {
		return err
	}
	if err := e.store.Transition(ctx, e.store.Pool, jobID, jobs.UserAborted, "aborted by "+by); err != nil {
		return err
	}
	e.guard.Forget(ctx, job.Institution, job.Type, jobID)
	if err := e.finishAborted(ctx, job); err != nil {
		e.log.Warn("aborted job's counters not written", "job", jobID, "err", err)
	}
	e.cfg.Metrics.JobsFinished.WithLabelValues(job.Type, string(jobs.UserAborted)).Inc()
	inflight, err := e.store.JobChunks(ctx, jobID, "queued")
	if err != nil {
		return err
	}
	for _, c := range inflight {
		id := queue.TaskID(c)
		if err := e.inspector.DeleteTask(job.PriorityClass, id); err != nil {
			// Active tasks cannot be deleted: cancel their handlers instead.
			_ = e.inspector.CancelProcessing(id)
		}
	}
	return nil
}

// finishAborted writes the counters of what the aborted job did commit.
func (e *Engine) finishAborted(ctx context.Context, job *jobs.Job) error {
	jobID := job.ID
	counters, err := e.store.SumCounters(ctx, e.store.Pool, jobID)
	if err != nil {
		return err
	}
	c := context.WithoutCancel(ctx)
	tctx, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	tx, err := e.store.Pool.Begin(tctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(tctx) //nolint:errcheck
	if err := e.store.Finish(tctx, tx, jobID, counters, nil); err != nil {
		return err
	}
	if c, ok := e.cfg.Kinds[job.Type].(jobs.Cleaner); ok {
		if err := c.Cleanup(tctx, tx, job); err != nil {
			return err
		}
	}
	return tx.Commit(tctx)
}
