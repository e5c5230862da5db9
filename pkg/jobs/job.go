package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Job is one job instance.
type Job struct {
	ID            int64          `json:"id"`
	Institution   string         `json:"institution"`
	Type          string         `json:"type"`
	Status        Status         `json:"status"`
	SubmittedBy   string         `json:"submitted_by"`
	Params        map[string]any `json:"params"`
	PriorityClass string         `json:"priority_class"`
	// Priority is an operator's override: high, normal (the type's class) or low.
	Priority     string           `json:"priority"`
	SubmittedAt  time.Time        `json:"submitted_at"`
	StartedAt    *time.Time       `json:"started_at,omitempty"`
	EndedAt      *time.Time       `json:"ended_at,omitempty"`
	TotalChunks  int              `json:"total_chunks"`
	TotalRecords int64            `json:"total_records"`
	Counters     map[string]int64 `json:"counters"`
	Alerts       []string         `json:"alerts"`
	Message      string           `json:"message,omitempty"`
	WaitingFor   []int64          `json:"waiting_for,omitempty"`
	Progress     *Progress        `json:"progress,omitempty"`
	Events       []Event          `json:"events,omitempty"`
}

// IntParam returns an integer parameter, whether it came from the submit
// (int64) or back from PostgreSQL's JSON (float64).
func (j *Job) IntParam(name string) (int64, error) {
	switch v := j.Params[name].(type) {
	case float64:
		return int64(v), nil
	case int64:
		return v, nil
	default:
		return 0, fmt.Errorf("job %d: parameter %s missing or not a number (%v)", j.ID, name, j.Params[name])
	}
}

// Progress is the live state of a job's chunk ledger.
type Progress struct {
	DoneChunks     int     `json:"done_chunks"`
	FailedChunks   int     `json:"failed_chunks"`
	InFlightChunks int     `json:"in_flight_chunks"`
	DoneRecords    int64   `json:"done_records"`
	Percent        float64 `json:"percent"`
}

// Event is one status a job passed through.
type Event struct {
	At      time.Time `json:"at"`
	Status  Status    `json:"status"`
	Message string    `json:"message,omitempty"`
}

// Report outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeSkipped = "skipped"
	OutcomeWarning = "warning"
	OutcomeError   = "error"
)

// ReportRow is one record's line in a job report.
type ReportRow struct {
	RecordID string `json:"record_id"`
	Outcome  string `json:"outcome"`
	Message  string `json:"message,omitempty"`
}

// Chunk is one admitted bulk of a job's population: the key range
// [Lo, Hi] holding Records records, admitted under Fence.
type Chunk struct {
	JobID   int64 `json:"job_id"`
	Seq     int   `json:"seq"`
	Fence   int64 `json:"fence"`
	Lo      int64 `json:"lo"`
	Hi      int64 `json:"hi"`
	Records int   `json:"records"`
}

// ChunkResult collects what a chunk did: named counters and report rows.
type ChunkResult struct {
	Counters map[string]int64
	Rows     []ReportRow
}

// Count adds n to a named counter.
func (r *ChunkResult) Count(name string, n int64) {
	if r.Counters == nil {
		r.Counters = map[string]int64{}
	}
	r.Counters[name] += n
}

// Report adds a report row for one record.
func (r *ChunkResult) Report(recordID, outcome, message string) {
	r.Rows = append(r.Rows, ReportRow{RecordID: recordID, Outcome: outcome, Message: message})
}

// Kind is what a job type implements: resolving its population into chunks
// and processing one chunk. Process runs inside the chunk's transaction; it
// must stop between records when ctx is cancelled and return ctx.Err().
type Kind interface {
	Plan(ctx context.Context, tx pgx.Tx, job *Job, chunkSize int) error
	Process(ctx context.Context, tx pgx.Tx, job *Job, c Chunk, res *ChunkResult) error
}

// Cleaner is implemented by job types that keep working data outside the
// catalog (an uploaded file's staged records): Cleanup drops it when the job
// ends, inside the finalizing transaction (or after an abort).
type Cleaner interface {
	Cleanup(ctx context.Context, tx pgx.Tx, job *Job) error
}

// Outcome is how a job is about to end: its final status, message and alerts.
type Outcome struct {
	Status  Status
	Message string
	Alerts  []string
}

// Finalizer is implemented by job types with work to do once every chunk has
// ended (a publishing run renames its files and writes its manifest).
// Finalize runs inside the finalizing transaction, before the terminal
// status is written; it may change the outcome (downgrade it, add alerts).
// It may run again if the transaction does not commit, so it must be
// idempotent.
type Finalizer interface {
	Finalize(ctx context.Context, tx pgx.Tx, job *Job, out *Outcome) error
}

// DBTX is what the store needs of a pool or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Errors the store returns.
var (
	ErrNotFound = errors.New("job not found")
	// ErrStaleFence means another admission of the chunk owns it now, or it
	// is already committed: the caller's work must be rolled back.
	ErrStaleFence = errors.New("chunk fence is stale or chunk already committed")
)

// TransitionError is an illegal or lost status change.
type TransitionError struct {
	JobID    int64
	From, To Status
}

func (e *TransitionError) Error() string {
	return "job " + itoa(e.JobID) + ": cannot move from " + string(e.From) + " to " + string(e.To)
}
