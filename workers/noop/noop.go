// Package noop is a job that touches no catalog data: it measures the spine
// itself and lets operators check the worker fleet end to end.
package noop

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
)

// TypeID is the job type's id in the catalog.
const TypeID = "noop"

// Kind implements jobs.Kind.
type Kind struct{}

var _ jobs.Kind = Kind{}

// param is an integer parameter; its absence means 0.
func param(job *jobs.Job, name string) int64 {
	n, _ := job.IntParam(name)
	return n
}

// Plan makes records synthetic records keyed 1..records.
func (Kind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) error {
	return jobs.PlanRanges(ctx, tx, job.ID, chunkSize,
		`SELECT generate_series(1, $1::bigint) AS key`, param(job, "records"))
}

// Process counts the chunk's records; with fail_every it reports every Nth
// as an error, and with record_delay_ms it takes that long per record.
func (Kind) Process(ctx context.Context, _ pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	failEvery := param(job, "fail_every")
	delay := time.Duration(param(job, "record_delay_ms")) * time.Millisecond
	for k := c.Lo; k <= c.Hi; k++ {
		if delay > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		res.Count("records", 1)
		if failEvery > 0 && k%failEvery == 0 {
			res.Count("errors", 1)
			res.Report(fmt.Sprint(k), jobs.OutcomeError, "synthetic error (fail_every)")
		}
	}
	return nil
}
