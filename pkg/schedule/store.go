package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
)

// Schedule is one stored schedule.
type Schedule struct {
	ID           int64             `json:"id"`
	Institution  string            `json:"institution"`
	JobType      string            `json:"job_type"`
	Spec         Spec              `json:"spec"`
	Description  string            `json:"description"`
	Params       map[string]string `json:"params"`
	Enabled      bool              `json:"enabled"`
	MissedPolicy string            `json:"missed_policy"`
	NextRunAt    time.Time         `json:"next_run_at"`
	LastRunAt    *time.Time        `json:"last_run_at,omitempty"`
	LastJobID    *int64            `json:"last_job_id,omitempty"`
	LastMessage  string            `json:"last_message,omitempty"`
	UpdatedBy    string            `json:"updated_by"`
}

// ErrNotFound: no schedule for that job type at that institution.
var ErrNotFound = errors.New("schedule not found")

// Scheduler stores schedules and fires those that are due.
type Scheduler struct {
	Store   *jobs.Store
	Catalog *config.Config
	Guard   jobs.Decider
	// Now is the clock (injected in tests).
	Now func() time.Time
	// Grace is how late an occurrence may fire and still count as on time;
	// later than that it was missed (every server was down) and
	// the schedule's missed policy applies.
	Grace  time.Duration
	Logger *slog.Logger
}

// NowTime is the scheduler's clock reading.
func (s *Scheduler) NowTime() time.Time { return s.now() }

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

const columns = `id, institution, job_type, spec, params, enabled, missed_policy, next_run_at,
	last_run_at, last_job_id, last_message, updated_by`

func scan(row pgx.Row) (*Schedule, error) {
	var sc Schedule
	var spec, params []byte
	err := row.Scan(&sc.ID, &sc.Institution, &sc.JobType, &spec, &params, &sc.Enabled, &sc.MissedPolicy,
		&sc.NextRunAt, &sc.LastRunAt, &sc.LastJobID, &sc.LastMessage, &sc.UpdatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(spec, &sc.Spec); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(params, &sc.Params); err != nil {
		return nil, err
	}
	sc.Description = sc.Spec.String()
	return &sc, nil
}

// List returns the schedules of the given institutions.
func (s *Scheduler) List(ctx context.Context, institutions []string) ([]*Schedule, error) {
	rows, err := s.Store.Pool.Query(ctx, `SELECT `+columns+` FROM schedules WHERE institution = ANY($1)
		ORDER BY institution, job_type`, institutions)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Schedule{}
	for rows.Next() {
		sc, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// Get returns the schedule of a job type at an institution.
func (s *Scheduler) Get(ctx context.Context, institution, jobType string) (*Schedule, error) {
	return scan(s.Store.Pool.QueryRow(ctx, `SELECT `+columns+` FROM schedules WHERE institution = $1 AND job_type = $2`,
		institution, jobType))
}

// SetRequest creates or replaces a schedule.
type SetRequest struct {
	Spec         Spec              `json:"spec"`
	Params       map[string]string `json:"params"`
	MissedPolicy string            `json:"missed_policy"`
}

// ValidationError is a schedule refused before it is stored.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

// Set validates and stores the schedule of jobType at institution.
func (s *Scheduler) Set(ctx context.Context, institution, jobType, by string, req SetRequest) (*Schedule, error) {
	in, ok := s.Catalog.Institution(institution)
	if !ok {
		return nil, &ValidationError{fmt.Sprintf("unknown institution %q", institution)}
	}
	jt, ok := s.Catalog.JobType(jobType)
	if !ok {
		return nil, &ValidationError{fmt.Sprintf("unknown job type %q", jobType)}
	}
	if jt.Upload != "" {
		return nil, &ValidationError{fmt.Sprintf("job type %s runs on a file uploaded with each submission (bindery job run %s --file PATH); it cannot be scheduled", jt.ID, jt.ID)}
	}
	if err := req.Spec.Validate(); err != nil {
		return nil, &ValidationError{"schedule: " + err.Error()}
	}
	if req.Spec.At != "" {
		h, m, _ := req.Spec.clock()
		req.Spec.At = fmt.Sprintf("%02d:%02d", h, m)
	}
	if req.MissedPolicy == "" {
		req.MissedPolicy = "run_once"
	}
	if req.MissedPolicy != "run_once" && req.MissedPolicy != "skip" {
		return nil, &ValidationError{fmt.Sprintf("missed_policy %q is not run_once or skip", req.MissedPolicy)}
	}
	if _, err := jt.ResolveParams(in, req.Params); err != nil {
		return nil, &ValidationError{err.Error()}
	}
	if req.Params == nil {
		req.Params = map[string]string{}
	}
	spec, _ := json.Marshal(req.Spec)
	params, _ := json.Marshal(req.Params)
	next := req.Spec.Next(s.now(), time.Time{}, in.Location)
	return scan(s.Store.Pool.QueryRow(ctx, `INSERT INTO schedules (institution, job_type, spec, params, missed_policy, next_run_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (institution, job_type) DO UPDATE SET spec = $3, params = $4, missed_policy = $5,
			next_run_at = $6, updated_by = $7, updated_at = now(), enabled = true
		RETURNING `+columns, institution, jobType, spec, params, req.MissedPolicy, next, by))
}

// SetEnabled enables or disables a schedule; enabling recomputes the next run.
func (s *Scheduler) SetEnabled(ctx context.Context, institution, jobType string, enabled bool) (*Schedule, error) {
	sc, err := s.Get(ctx, institution, jobType)
	if err != nil {
		return nil, err
	}
	next := sc.NextRunAt
	if enabled && !sc.Enabled {
		in, _ := s.Catalog.Institution(institution)
		next = sc.Spec.Next(s.now(), time.Time{}, location(in))
	}
	return scan(s.Store.Pool.QueryRow(ctx, `UPDATE schedules SET enabled = $3, next_run_at = $4, updated_at = now()
		WHERE institution = $1 AND job_type = $2 RETURNING `+columns, institution, jobType, enabled, next))
}

func location(in *config.Institution) *time.Location {
	if in == nil || in.Location == nil {
		return time.UTC
	}
	return in.Location
}

// RunNow submits the schedule's job at once (through the guard); the
// schedule's next occurrence is unchanged.
func (s *Scheduler) RunNow(ctx context.Context, institution, jobType, by string) (*jobs.Job, error) {
	var job *jobs.Job
	err := pgx.BeginFunc(ctx, s.Store.Pool, func(tx pgx.Tx) error {
		sc, err := scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM schedules WHERE institution = $1 AND job_type = $2 FOR UPDATE`,
			institution, jobType))
		if err != nil {
			return err
		}
		job, err = s.submit(ctx, tx, sc, by)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE schedules SET last_run_at = $2, last_job_id = $3, last_message = 'run now by ' || $4 WHERE id = $1`,
			sc.ID, s.now(), job.ID, by)
		return err
	})
	return job, err
}

func (s *Scheduler) submit(ctx context.Context, tx pgx.Tx, sc *Schedule, by string) (*jobs.Job, error) {
	in, ok := s.Catalog.Institution(sc.Institution)
	jt, okType := s.Catalog.JobType(sc.JobType)
	if !ok || !okType {
		return nil, fmt.Errorf("schedule %d: institution %q or job type %q is no longer configured", sc.ID, sc.Institution, sc.JobType)
	}
	params, err := jt.ResolveParams(in, sc.Params)
	if err != nil {
		return nil, fmt.Errorf("schedule %d: %w", sc.ID, err)
	}
	return s.Store.InsertTx(ctx, tx, jobs.NewJob{Institution: in.ID, Type: jt.ID, SubmittedBy: by, Params: params,
		PriorityClass: jt.PriorityClass, SingleInstance: s.Catalog.Rules(in.ID, jt.ID).SingleInstance}, s.Guard)
}

// Fire submits the job of every enabled schedule that is due, once per
// schedule whatever the number of occurrences missed, and moves each to its
// next occurrence in the same transaction. Two servers firing at once cannot
// both fire a schedule: the row is locked and its due time re-checked.
func (s *Scheduler) Fire(ctx context.Context) (int, error) {
	now := s.now()
	fired := 0
	err := pgx.BeginFunc(ctx, s.Store.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM schedules WHERE enabled AND next_run_at <= $1
			ORDER BY next_run_at FOR UPDATE SKIP LOCKED`, now)
		if err != nil {
			return err
		}
		var due []*Schedule
		for rows.Next() {
			sc, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			due = append(due, sc)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, sc := range due {
			in, _ := s.Catalog.Institution(sc.Institution)
			missed := now.Sub(sc.NextRunAt) > s.Grace
			var jobID *int64
			msg := ""
			if missed && sc.MissedPolicy == "skip" {
				msg = fmt.Sprintf("occurrence due %s was missed and skipped (missed_policy skip)", sc.NextRunAt.UTC().Format(time.RFC3339))
			} else {
				job, err := s.submit(ctx, tx, sc, "scheduler")
				if err != nil {
					msg = err.Error()
				} else {
					jobID = &job.ID
					msg = fmt.Sprintf("job %d %s", job.ID, job.Status)
					if missed {
						msg += fmt.Sprintf(" (late: due %s, run once for the missed occurrences)", sc.NextRunAt.UTC().Format(time.RFC3339))
					}
					fired++
				}
			}
			next := sc.Spec.Next(now, sc.NextRunAt, location(in))
			if _, err := tx.Exec(ctx, `UPDATE schedules SET next_run_at = $2, last_run_at = $3,
					last_job_id = coalesce($4, last_job_id), last_message = $5 WHERE id = $1`,
				sc.ID, next, now, jobID, msg); err != nil {
				return err
			}
			if s.Logger != nil {
				s.Logger.Info("schedule fired", "institution", sc.Institution, "type", sc.JobType, "result", msg, "next", next)
			}
		}
		return nil
	})
	return fired, err
}
