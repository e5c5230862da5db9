package metadataimport

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
)

var _ jobs.Cleaner = Kind{}

// Cleanup drops the job's staged groups of records once it has ended: the catalog
// and the report hold what the job did, and import_changes what it replaced.
// The import_files row (profile snapshot, sizes) stays for the record.
func (Kind) Cleanup(ctx context.Context, tx pgx.Tx, job *jobs.Job) error {
	_, err := tx.Exec(ctx, `DELETE FROM import_staging WHERE job_id = $1`, job.ID)
	return err
}
