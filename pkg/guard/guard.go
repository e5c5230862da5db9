// Package guard examines every job before it runs, as the reference platform
// does: a job whose type waits for another type's unfinished job is held
// PENDING; a job that conflicts with a running one, or a second instance of
// a single-instance type, ends SKIPPED with a message naming the blocker.
//
// A Guard made by New decides in Redis: one atomic Lua step per job, on a
// per-institution copy of the unfinished jobs (redis.go). PostgreSQL stays
// the truth: every decision is recorded with the epoch of the copy it was
// taken on and refused if the copy was rebuilt since; a unique index and an
// exclusion constraint refuse two unfinished single-instance jobs and two
// live conflicting jobs whatever Redis said; the reconciler rebuilds a lost
// copy from PostgreSQL under a new epoch and repairs drift (reconcile.go).
//
// A Guard with only Catalog set (no Redis) decides in PostgreSQL alone,
// inside the transaction that inserts or promotes the job, under a
// per-institution advisory lock (this file).
package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
)

// Guard decides how jobs start from the configured rules.
type Guard struct {
	Catalog *config.Config

	rdb    redis.UniversalClient // nil: decide in PostgreSQL alone
	cfg    Config
	script *redis.Script
}

var (
	_ jobs.Decider   = (*Guard)(nil)
	_ jobs.Waiter    = (*Guard)(nil)
	_ jobs.Forgetter = (*Guard)(nil)
)

// unfinished are the statuses of a job that still holds its place.
var unfinished = []string{string(jobs.Pending), string(jobs.Queued), string(jobs.Initializing),
	string(jobs.Running), string(jobs.Finalizing)}

type other struct {
	id      int64
	typ     string
	status  jobs.Status
	started time.Time
}

func (o other) String() string {
	return fmt.Sprintf("job %d (%s, %s since %s)", o.id, o.typ, o.status, o.started.UTC().Format("2006-01-02 15:04:05 MST"))
}

// lockAndList takes the institution's guard lock for the rest of tx and
// returns its unfinished jobs in submit order.
func lockAndList(ctx context.Context, tx pgx.Tx, institution string) ([]other, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bindery-guard:' || $1, 0))`, institution); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id, type, status, coalesce(started_at, submitted_at) FROM jobs
		WHERE institution = $1 AND status = ANY($2) ORDER BY id`, institution, unfinished)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (other, error) {
		var o other
		return o, r.Scan(&o.id, &o.typ, &o.status, &o.started)
	})
}

// Admit decides how a new job starts and inserts it, inside tx.
func (g *Guard) Admit(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, insert jobs.InsertFunc) (*jobs.Job, error) {
	r := g.Catalog.Rules(nj.Institution, nj.Type)
	nj.SingleInstance = r.SingleInstance
	nj.Conflicts = r.Conflicts
	if g.rdb != nil {
		return g.admitRedis(ctx, tx, nj, r, insert)
	}
	d, err := g.decidePG(ctx, tx, nj, r)
	if err != nil {
		return nil, err
	}
	return insert(ctx, tx, nj, d)
}

// decidePG decides in PostgreSQL alone, under the institution's guard lock.
func (g *Guard) decidePG(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, r config.Rules) (jobs.Decision, error) {
	others, err := lockAndList(ctx, tx, nj.Institution)
	if err != nil {
		return jobs.Decision{}, err
	}
	for _, o := range others {
		switch {
		case r.SingleInstance && o.typ == nj.Type:
			return skip(nj.Type, "another instance", o), nil
		case slices.Contains(r.Conflicts, o.typ) && o.status != jobs.Pending:
			return skip(nj.Type, "a conflicting job", o), nil
		}
	}
	if waits := waitingFor(r, others, 0); len(waits) > 0 {
		return jobs.Decision{Status: jobs.Pending, WaitingFor: ids(waits),
			Message: "waiting for " + describe(waits)}, nil
	}
	return jobs.Decision{Status: jobs.Queued}, nil
}

func skip(jobType, what string, o other) jobs.Decision {
	return jobs.Decision{Status: jobs.Skipped,
		Message: fmt.Sprintf("%s cannot run while %s is in process: %s", jobType, what, o)}
}

// waitingFor returns the jobs a job waits for: unfinished jobs of a type it
// waits for, submitted before it (before is 0 for a job not yet inserted).
func waitingFor(r config.Rules, others []other, self int64) []other {
	var out []other
	for _, o := range others {
		if self != 0 && o.id >= self {
			break
		}
		if slices.Contains(r.WaitsFor, o.typ) {
			out = append(out, o)
		}
	}
	return out
}

func ids(os []other) []int64 {
	out := make([]int64, len(os))
	for i, o := range os {
		out[i] = o.id
	}
	return out
}

func describe(os []other) string {
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = o.String()
	}
	return strings.Join(parts, "; ")
}

// holdIfBlocked keeps the PENDING job o pending if it still waits for an
// earlier job or a conflicting job runs, recording in tx what it waits for,
// and reports whether it did.
func holdIfBlocked(ctx context.Context, tx pgx.Tx, r config.Rules, others []other, o other) (bool, error) {
	waits := waitingFor(r, others, o.id)
	blocked := len(waits) > 0
	for _, x := range others {
		if x.id != o.id && x.status != jobs.Pending && slices.Contains(r.Conflicts, x.typ) {
			blocked = true
		}
	}
	if !blocked {
		return false, nil
	}
	_, err := tx.Exec(ctx, `UPDATE jobs SET waiting_for = $2 WHERE id = $1`, o.id, ids(waits))
	return true, err
}

// Promote moves the institution's PENDING jobs whose predecessors have all
// finished to QUEUED, in submit order, and returns how many it moved. A job
// whose conflicting job still runs stays PENDING until it ends.
func (g *Guard) Promote(ctx context.Context, store *jobs.Store, institution string) (int, error) {
	if g.rdb != nil {
		return g.promoteRedis(ctx, store, institution)
	}
	moved := 0
	err := pgx.BeginFunc(ctx, store.Pool, func(tx pgx.Tx) error {
		others, err := lockAndList(ctx, tx, institution)
		if err != nil {
			return err
		}
		for i, o := range others {
			if o.status != jobs.Pending {
				continue
			}
			r := g.Catalog.Rules(institution, o.typ)
			held, err := holdIfBlocked(ctx, tx, r, others, o)
			if err != nil {
				return err
			}
			if held {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE jobs SET waiting_for = '{}' WHERE id = $1`, o.id); err != nil {
				return err
			}
			if err := store.Transition(ctx, tx, o.id, jobs.Queued, "predecessors finished"); err != nil {
				return err
			}
			others[i].status = jobs.Queued // later jobs in this pass see it
			moved++
		}
		return nil
	})
	return moved, err
}
