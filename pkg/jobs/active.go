package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// ActiveJob is an unfinished job as the engine sees it at one moment.
type ActiveJob struct {
	ID            int64
	Status        Status
	Type          string
	Institution   string
	PriorityClass string
	Pending       int // chunks waiting for admission, counted up to PendingCountCap
	Queued        int // chunks in flight
	Running       int // in flight and started by a worker
}

// Snapshot is everything one engine step needs, read in one round trip.
type Snapshot struct {
	Jobs []ActiveJob
	// NextSchedule is the earliest due time of an enabled schedule (zero: none).
	NextSchedule time.Time
	// FleetSlots is the concurrency of the workers alive now.
	FleetSlots int
}

// ByStatus returns the snapshot's jobs in status st, oldest first.
func (s *Snapshot) ByStatus(st Status) []ActiveJob {
	var out []ActiveJob
	for _, j := range s.Jobs {
		if j.Status == st {
			out = append(out, j)
		}
	}
	return out
}

// PendingCountCap bounds the pending chunks a snapshot counts per job: the
// engine steps on every commit, and admission needs at most a window of
// them, so a million-chunk job must not cost a million-row count per step.
const PendingCountCap = 1024

// Snapshot reads every unfinished job with its open chunk counts, the next
// schedule due and the slots of the workers whose heartbeat is younger than
// alive, in one round trip.
func (s *Store) Snapshot(ctx context.Context, alive time.Duration) (*Snapshot, error) {
	rows, err := s.Pool.Query(ctx, `SELECT j.id, j.status, j.type, j.institution, j.priority_class,
			coalesce(c.pending, 0), coalesce(c.queued, 0), coalesce(c.running, 0),
			(SELECT min(next_run_at) FROM schedules WHERE enabled),
			(SELECT coalesce(sum(concurrency), 0) FROM workers WHERE heartbeat_at > now() - make_interval(secs => $1))
		FROM jobs j
		LEFT JOIN LATERAL (SELECT (SELECT count(*) FROM (SELECT FROM chunks WHERE job_id = j.id AND status = 'pending'
		                                                 LIMIT $2) p) AS pending,
		                          count(*) AS queued,
		                          count(*) FILTER (WHERE started_at IS NOT NULL) AS running
		                   FROM chunks WHERE job_id = j.id AND status = 'queued') c ON j.status = 'RUNNING'
		WHERE j.status IN ('PENDING', 'QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING')
		ORDER BY j.id`, alive.Seconds(), PendingCountCap)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{}
	var next *time.Time
	snap.Jobs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ActiveJob, error) {
		var a ActiveJob
		return a, r.Scan(&a.ID, &a.Status, &a.Type, &a.Institution, &a.PriorityClass, &a.Pending, &a.Queued, &a.Running, &next, &snap.FleetSlots)
	})
	if err != nil {
		return nil, err
	}
	if len(snap.Jobs) == 0 {
		// No job row carried them: ask once.
		if err := s.Pool.QueryRow(ctx, `SELECT (SELECT min(next_run_at) FROM schedules WHERE enabled),
				(SELECT coalesce(sum(concurrency), 0) FROM workers WHERE heartbeat_at > now() - make_interval(secs => $1))`,
			alive.Seconds()).Scan(&next, &snap.FleetSlots); err != nil {
			return nil, err
		}
	}
	if next != nil {
		snap.NextSchedule = *next
	}
	return snap, nil
}
