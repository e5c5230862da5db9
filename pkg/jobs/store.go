package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps jobs, the chunk ledger and reports in PostgreSQL.
type Store struct {
	Pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{Pool: pool} }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// NewJob is what a submission creates.
type NewJob struct {
	Institution   string
	Type          string
	SubmittedBy   string
	Params        map[string]any
	PriorityClass string
	// SingleInstance makes PostgreSQL refuse a second unfinished job of the
	// same type and institution (a unique index), whatever the guard said.
	SingleInstance bool
	// Conflicts are the types this job conflicts with at its institution:
	// PostgreSQL refuses to hold it live (QUEUED .. FINALIZING) beside a live
	// job of one of them (an exclusion constraint), whatever the guard said.
	Conflicts []string
}

const jobColumns = `id, institution, type, status, submitted_by, params, priority_class,
	submitted_at, started_at, ended_at, total_chunks, total_records, counters, alerts, message, waiting_for, priority`

func scanJob(row pgx.Row) (*Job, error) {
	var j Job
	var params, counters []byte
	err := row.Scan(&j.ID, &j.Institution, &j.Type, &j.Status, &j.SubmittedBy, &params, &j.PriorityClass,
		&j.SubmittedAt, &j.StartedAt, &j.EndedAt, &j.TotalChunks, &j.TotalRecords, &counters, &j.Alerts, &j.Message, &j.WaitingFor, &j.Priority)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(params, &j.Params); err != nil {
		return nil, fmt.Errorf("job %d params: %w", j.ID, err)
	}
	if err := json.Unmarshal(counters, &j.Counters); err != nil {
		return nil, fmt.Errorf("job %d counters: %w", j.ID, err)
	}
	return &j, nil
}

// Decision is the status a new job starts in, as its guard decided.
type Decision struct {
	Status     Status
	Message    string
	WaitingFor []int64 // the jobs a PENDING job waits for
	// ID, when not zero, is the id reserved for the job (a nextval of
	// jobs_id_seq), so a guard can name the job before it exists.
	ID int64
	// Epoch, when not zero, is the guard epoch the decision was taken under
	// (pkg/guard's Redis copy). The insert re-reads the epoch under a share
	// lock and refuses the decision with ErrStaleEpoch if it changed.
	Epoch int64
}

// ErrStaleEpoch: the guard's Redis copy was rebuilt between the decision
// and its insert; the decision must be taken again on the new copy.
var ErrStaleEpoch = errors.New("the guard decision was taken on a Redis copy that has since been rebuilt")

// ErrGuardBackstop: PostgreSQL refused a job the guard let through: a second
// unfinished job of a single-instance type, or a live job beside a
// conflicting live job. The guard's copy of the unfinished jobs was wrong.
var ErrGuardBackstop = errors.New("refused by the guard's PostgreSQL backstop")

// InsertFunc inserts a job in the status d decides, inside tx.
type InsertFunc func(ctx context.Context, tx pgx.Tx, nj NewJob, d Decision) (*Job, error)

// Decider decides how a new job starts (QUEUED, PENDING behind the jobs it
// depends on, or SKIPPED) and inserts it with insert, inside tx (pkg/guard).
type Decider interface {
	Admit(ctx context.Context, tx pgx.Tx, nj NewJob, insert InsertFunc) (*Job, error)
}

// Forgetter is a Decider that keeps state outside PostgreSQL: Insert tells
// it when a job it decided on did not commit after all.
type Forgetter interface {
	Forget(ctx context.Context, institution, jobType string, ids ...int64)
}

// ErrGuardLost: the guard's state outside PostgreSQL (pkg/guard's Redis
// copy) is lost and not yet rebuilt; no decision can be taken until it is.
var ErrGuardLost = errors.New("the guard's state in Redis is lost and not yet rebuilt by the reconciler; retry shortly")

// Waiter is a Decider whose decisions can fail with ErrGuardLost: Insert
// then waits with WaitReady, holding no connection, and decides again.
type Waiter interface {
	WaitReady(ctx context.Context, institution string) error
}

// Insert creates a job in the status d decides (QUEUED when d is nil).
func (s *Store) Insert(ctx context.Context, nj NewJob, d Decider) (*Job, error) {
	for attempt := 1; ; attempt++ {
		var job *Job
		err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			var err error
			job, err = s.InsertTx(ctx, tx, nj, d)
			return err
		})
		if err != nil && job != nil {
			if f, ok := d.(Forgetter); ok {
				f.Forget(context.WithoutCancel(ctx), job.Institution, job.Type, job.ID)
			}
		}
		w, ok := d.(Waiter)
		if !errors.Is(err, ErrGuardLost) || !ok || attempt == 5 {
			if err != nil {
				return nil, err
			}
			return job, nil
		}
		if err := w.WaitReady(ctx, nj.Institution); err != nil {
			return nil, err
		}
	}
}

// InsertTx is Insert inside the caller's transaction, so a job and what it
// stages (an uploaded file) commit or roll back together.
func (s *Store) InsertTx(ctx context.Context, tx pgx.Tx, nj NewJob, d Decider) (*Job, error) {
	if d == nil {
		return s.InsertDecision(ctx, tx, nj, Decision{Status: Queued})
	}
	job, err := d.Admit(ctx, tx, nj, s.InsertDecision)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	return job, nil
}

// insertJob inserts the job and its first event in one statement. With an
// epoch ($12) it takes a share lock on the guard epoch row until commit
// (waiting for a rebuild in progress, which holds it FOR UPDATE, to commit)
// and inserts only if the epoch is still that one.
const insertJob = `WITH g AS (SELECT epoch FROM guard_epoch WHERE $12::bigint IS NOT NULL FOR KEY SHARE),
j AS (
	INSERT INTO jobs (id, institution, type, status, submitted_by, params, priority_class, single_instance,
		conflicts_with, waiting_for, message, guard_epoch, ended_at)
	SELECT coalesce($13, nextval('jobs_id_seq')), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12,
		CASE WHEN $3 = 'SKIPPED' THEN now() END
	WHERE $11 OR EXISTS (SELECT FROM g WHERE g.epoch = $12)
	RETURNING ` + jobColumns + `),
e AS (INSERT INTO job_events (job_id, status, message) SELECT id, status, message FROM j)
SELECT ` + jobColumns + ` FROM j`

// InsertDecision inserts a job in the status d decided, with its first event
// (an InsertFunc). A decision with an epoch that is no longer current is
// refused with ErrStaleEpoch; one that PostgreSQL's guard backstop refuses
// fails with an error wrapping ErrGuardBackstop (the transaction is then
// aborted: callers that want to go on wrap the call in a savepoint).
func (s *Store) InsertDecision(ctx context.Context, tx pgx.Tx, nj NewJob, d Decision) (*Job, error) {
	params, err := json.Marshal(nj.Params)
	if err != nil {
		return nil, err
	}
	if d.WaitingFor == nil {
		d.WaitingFor = []int64{}
	}
	conflicts := nj.Conflicts
	if conflicts == nil {
		conflicts = []string{}
	}
	var epoch, id *int64
	if d.Epoch != 0 {
		epoch = &d.Epoch
	}
	if d.ID != 0 {
		id = &d.ID
	}
	job, err := scanJob(tx.QueryRow(ctx, insertJob, nj.Institution, nj.Type, string(d.Status), nj.SubmittedBy, params,
		nj.PriorityClass, nj.SingleInstance, conflicts, d.WaitingFor, d.Message, epoch == nil, epoch, id))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, ErrStaleEpoch
	case err != nil:
		return nil, fmt.Errorf("insert job: %w", interpretGuardError(err))
	}
	return job, nil
}

// interpretGuardError wraps the backstop's refusals in ErrGuardBackstop.
func interpretGuardError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.ConstraintName == "jobs_single_instance_unfinished" || pe.ConstraintName == "guard_claims_conflict") {
		return fmt.Errorf("%w (%s): %w", ErrGuardBackstop, pe.ConstraintName, err)
	}
	return err
}

// Get returns a job with its live progress and status history.
func (s *Store) Get(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.Pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return nil, err
	}
	if err := s.fillProgress(ctx, j); err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT at, status, message FROM job_events WHERE job_id = $1 ORDER BY at`, id)
	if err != nil {
		return nil, err
	}
	j.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		return e, r.Scan(&e.At, &e.Status, &e.Message)
	})
	return j, err
}

// Row returns a job's row alone, without the live progress, counters and
// history Get adds. Those aggregate the job's whole ledger, so callers on the
// per-chunk path (the worker, the admission loop) must not pay for them.
func (s *Store) Row(ctx context.Context, id int64) (*Job, error) {
	return scanJob(s.Pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
}

// fillProgress computes progress and, while jobs run, live counters from
// the ledger (a job row's counters are written once, at finalization), for
// any number of jobs in one query (plus one per running job's counters).
func (s *Store) fillProgress(ctx context.Context, list ...*Job) error {
	ids := make([]int64, len(list))
	for i, j := range list {
		ids[i] = j.ID
		j.Progress = &Progress{}
	}
	rows, err := s.Pool.Query(ctx, `SELECT job_id,
			count(*) FILTER (WHERE status = 'done'),
			count(*) FILTER (WHERE status = 'failed'),
			count(*) FILTER (WHERE status = 'queued'),
			coalesce(sum(records) FILTER (WHERE status = 'done'), 0)
		FROM chunks WHERE job_id = ANY($1) GROUP BY job_id`, ids)
	if err != nil {
		return err
	}
	byID := make(map[int64]Progress, len(list))
	for rows.Next() {
		var id int64
		var p Progress
		if err := rows.Scan(&id, &p.DoneChunks, &p.FailedChunks, &p.InFlightChunks, &p.DoneRecords); err != nil {
			return err
		}
		byID[id] = p
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, j := range list {
		p := byID[j.ID]
		switch {
		case j.TotalRecords > 0:
			p.Percent = 100 * float64(p.DoneRecords) / float64(j.TotalRecords)
		case j.Status.Terminal():
			p.Percent = 100
		}
		j.Progress = &p
		if j.Status == Running || j.Status == Finalizing {
			if j.Counters, err = s.SumCounters(ctx, s.Pool, j.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// SumCounters adds up the counters of a job's committed chunks.
func (s *Store) SumCounters(ctx context.Context, q DBTX, jobID int64) (map[string]int64, error) {
	rows, err := q.Query(ctx, `SELECT kv.key, sum(kv.value::bigint)
		FROM chunks, jsonb_each_text(chunks.counters) AS kv
		WHERE job_id = $1 AND status = 'done' GROUP BY kv.key`, jobID)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// Filter narrows List. Institutions empty means no institution filter.
type Filter struct {
	Institutions []string
	Status       Status
	Type         string
	Limit        int
}

// List returns jobs, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]*Job, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE ($1::text[] IS NULL OR institution = ANY($1))
		  AND ($2 = '' OR status = $2) AND ($3 = '' OR type = $3)
		ORDER BY id DESC LIMIT $4`, nilIfEmpty(f.Institutions), string(f.Status), f.Type, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		if err := s.fillProgress(ctx, out...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func nilIfEmpty(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// Transition moves a job to status to, only if the transition table allows
// it from the job's current status. It records the event and wakes the server.
func (s *Store) Transition(ctx context.Context, q DBTX, id int64, to Status, message string) error {
	allowed := AllowedFrom(to)
	from := make([]string, len(allowed))
	for i, a := range allowed {
		from[i] = string(a)
	}
	tag, err := q.Exec(ctx, `UPDATE jobs SET status = $2,
			message = CASE WHEN $3 = '' THEN message ELSE $3 END,
			started_at = CASE WHEN $2 = 'RUNNING' AND started_at IS NULL THEN now() ELSE started_at END,
			ended_at = CASE WHEN $2 = ANY($5::text[]) THEN now() ELSE ended_at END
		WHERE id = $1 AND status = ANY($4)`, id, string(to), message, from, terminalNames())
	if err != nil {
		return fmt.Errorf("job %d to %s: %w", id, to, interpretGuardError(err))
	}
	if tag.RowsAffected() == 0 {
		var cur Status
		if err := q.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&cur); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		return &TransitionError{JobID: id, From: cur, To: to}
	}
	_, err = q.Exec(ctx, `INSERT INTO job_events (job_id, status, message) VALUES ($1, $2, $3)`, id, string(to), message)
	return err
}

func terminalNames() []string {
	var out []string
	for _, s := range AllStatuses {
		if s.Terminal() {
			out = append(out, string(s))
		}
	}
	return out
}

// IDsInStatus returns the ids of jobs in status st, oldest first.
func (s *Store) IDsInStatus(ctx context.Context, st Status) ([]int64, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM jobs WHERE status = $1 ORDER BY id`, string(st))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// LockJob locks a job row for the rest of tx, skipping it (ErrNotFound) if
// another server holds it or it is not in status st.
func (s *Store) LockJob(ctx context.Context, tx pgx.Tx, id int64, st Status) (*Job, error) {
	return scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND status = $2 FOR UPDATE SKIP LOCKED`, id, string(st)))
}

// SetPopulation records the job's chunk and record totals.
func (s *Store) SetPopulation(ctx context.Context, tx pgx.Tx, id int64) (chunks int, records int64, err error) {
	err = tx.QueryRow(ctx, `UPDATE jobs SET (total_chunks, total_records) =
			(SELECT count(*), coalesce(sum(records), 0) FROM chunks WHERE job_id = $1)
		WHERE id = $1 RETURNING total_chunks, total_records`, id).Scan(&chunks, &records)
	return chunks, records, err
}

// Finish writes a job's final counters and alerts (before its terminal transition).
func (s *Store) Finish(ctx context.Context, tx pgx.Tx, id int64, counters map[string]int64, alerts []string) error {
	c, err := json.Marshal(counters)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []string{}
	}
	_, err = tx.Exec(ctx, `UPDATE jobs SET counters = $2, alerts = $3 WHERE id = $1`, id, c, alerts)
	return err
}

// SetPriority records an operator's priority override and the class it puts
// the job in; it applies to the job's next admissions. A finished job
// cannot change: ErrNotFound.
func (s *Store) SetPriority(ctx context.Context, id int64, priority, class string) (*Job, error) {
	return scanJob(s.Pool.QueryRow(ctx, `UPDATE jobs SET priority = $2, priority_class = $3
		WHERE id = $1 AND status IN ('PENDING', 'QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING')
		RETURNING `+jobColumns, id, priority, class))
}
