// Package loananon is the Loan Anonymization job: it removes the patron link
// from loans returned more than retention_days ago, keeping the loan's item,
// dates and the patron's statistics category, so circulation statistics
// survive and patron privacy is kept.
package loananon

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
)

// TypeID is the job type's id in the catalog.
const TypeID = "loan-anonymization"

// Counter names.
const (
	Examined        = "loans_examined"
	Anonymized      = "loans_anonymized"
	SkippedOpen     = "skipped_still_open"
	SkippedRetained = "skipped_within_retention"
)

// Kind implements jobs.Kind.
type Kind struct{}

var _ jobs.Kind = Kind{}

// cutoff is fixed by the job's submit time, so every delivery of a chunk,
// whenever it runs, makes the same decision.
func cutoff(job *jobs.Job) (time.Time, error) {
	days, err := job.IntParam("retention_days")
	if err != nil {
		return time.Time{}, err
	}
	return job.SubmittedAt.AddDate(0, 0, -int(days)), nil
}

// Plan: the population is every loan of the institution still linked to a
// patron; each is examined, and anonymized only when returned before the cutoff.
func (Kind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) error {
	if _, err := cutoff(job); err != nil {
		return err
	}
	return jobs.PlanRanges(ctx, tx, job.ID, chunkSize,
		`SELECT id AS key FROM loans WHERE institution = $1 AND user_id IS NOT NULL`, job.Institution)
}

// Process examines the chunk's loans one by one and anonymizes, in one
// statement, those returned before the cutoff.
func (Kind) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	cut, err := cutoff(job)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT id, return_date FROM loans
		WHERE institution = $1 AND id BETWEEN $2 AND $3 AND user_id IS NOT NULL
		ORDER BY id FOR UPDATE`, job.Institution, c.Lo, c.Hi)
	if err != nil {
		return err
	}
	type loan struct {
		id       int64
		returned *time.Time
	}
	loans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (loan, error) {
		var l loan
		return l, r.Scan(&l.id, &l.returned)
	})
	if err != nil {
		return err
	}
	toAnonymize := make([]int64, 0, len(loans))
	for _, l := range loans {
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Count(Examined, 1)
		id := fmt.Sprint(l.id)
		switch {
		case l.returned == nil:
			res.Count(SkippedOpen, 1)
			res.Report(id, jobs.OutcomeSkipped, "loan still open")
		case !l.returned.Before(cut):
			res.Count(SkippedRetained, 1)
			res.Report(id, jobs.OutcomeSkipped, "returned "+l.returned.Format("2006-01-02")+", within the retention period")
		default:
			toAnonymize = append(toAnonymize, l.id)
			res.Report(id, jobs.OutcomeSuccess, "anonymized")
		}
	}
	if len(toAnonymize) == 0 {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE loans l SET user_id = NULL, anonymized_at = now(),
			stat_category = CASE WHEN l.stat_category = '' THEN u.stat_category ELSE l.stat_category END
		FROM users u WHERE u.id = l.user_id AND l.id = ANY($1)`, toAnonymize)
	if err != nil {
		return err
	}
	res.Count(Anonymized, tag.RowsAffected())
	return nil
}
