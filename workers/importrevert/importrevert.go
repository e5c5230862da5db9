// Package importrevert is the Revert Import job: it puts the catalog back as
// it was before one Metadata Import — records the import created are
// deleted (marked deleted, a tombstone that publishing sees), records it
// merged or overlaid get their previous version back — and refuses, naming
// the records, when a later job has changed any of them.
package importrevert

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/changes"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
)

// TypeID is the job type's id in the catalog.
const TypeID = "import-revert"

// Counter names.
const (
	Deleted  = "records_deleted"
	Restored = "records_restored"
	Refused  = "records_refused"
)

// Kind implements jobs.Kind.
type Kind struct{}

var _ jobs.Kind = Kind{}

// target is the import job to revert (0 when missing: then not found).
func target(job *jobs.Job) int64 {
	n, _ := job.IntParam("job")
	return n
}

// affected selects the records the target import created (still live) or
// changed, with the import's chunk that kept them (pkg/changes: a record is
// in one chunk of a job, unless another job changed it between two of the
// job's chunks, which Plan refuses).
const affected = `SELECT c.chunk_seq, a.id FROM import_changes c, unnest(c.created) AS a(id), records r
	WHERE c.job_id = $1 AND r.id = a.id AND r.institution = $2 AND NOT r.deleted
	UNION ALL
	SELECT c.chunk_seq, a.id FROM import_changes c, unnest(c.changed) AS a(id), records r
	WHERE c.job_id = $1 AND r.id = a.id AND r.institution = $2`

// Plan checks the import can be reverted as a whole and plans one chunk per
// chunk of the import that created or changed a record.
func (Kind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) error {
	x := target(job)
	var typ, inst string
	var status jobs.Status
	var params map[string]any
	err := tx.QueryRow(ctx, `SELECT type, institution, status, params FROM jobs WHERE id = $1`, x).Scan(&typ, &inst, &status, &params)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && inst != job.Institution):
		return fmt.Errorf("job %d not found", x)
	case err != nil:
		return err
	case typ != "metadata-import":
		return fmt.Errorf("job %d is a %s job; only a metadata-import can be reverted", x, typ)
	case !status.Terminal():
		return fmt.Errorf("job %d is %s; wait until it ends", x, status)
	case params["dry_run"] == true:
		return fmt.Errorf("job %d was a dry run; it changed nothing", x)
	}
	// Reverted in full before: its records now carry that revert's changes,
	// which the check below would report as "changed by a later job".
	if by, err := revertedBy(ctx, tx, job, x, jobs.CompletedSuccess); err != nil || by != 0 {
		if err != nil {
			return err
		}
		return alreadyReverted(x, by)
	}
	rows, err := tx.Query(ctx, `SELECT r.id, coalesce(r.job_id, 0) FROM (`+affected+`) a JOIN records r ON r.id = a.id
		WHERE r.job_id IS DISTINCT FROM $1 ORDER BY r.id LIMIT 21`, x, job.Institution)
	if err != nil {
		return err
	}
	type changed struct{ id, by int64 }
	later, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (changed, error) {
		var c changed
		return c, r.Scan(&c.id, &c.by)
	})
	if err != nil {
		return err
	}
	if len(later) > 0 {
		var names []string
		for i, c := range later {
			if i == 20 {
				names = append(names, "…")
				break
			}
			names = append(names, fmt.Sprintf("%d (by job %d)", c.id, c.by))
		}
		return fmt.Errorf("refused: records changed by a later job since job %d: %s", x, strings.Join(names, ", "))
	}
	// Another job changed a record between two chunks of this import: the
	// import kept two versions of it (see pkg/changes), and neither gives
	// the catalog back (the first drops the other job's change, the second
	// keeps this import's first one).
	rows, err = tx.Query(ctx, `SELECT a.id FROM import_changes c, unnest(c.created || c.changed) AS a(id)
		WHERE c.job_id = $1 GROUP BY a.id HAVING count(*) > 1 ORDER BY a.id LIMIT 21`, x)
	if err != nil {
		return err
	}
	between, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(between) > 0 {
		names := make([]string, 0, len(between))
		for i, id := range between {
			if i == 20 {
				names = append(names, "…")
				break
			}
			names = append(names, strconv.FormatInt(id, 10))
		}
		return fmt.Errorf("refused: records changed by another job while job %d ran (between two of its chunks): %s", x, strings.Join(names, ", "))
	}
	planned, err := jobs.PlanChunks(ctx, tx, job.ID, `SELECT chunk_seq::bigint AS lo, chunk_seq::bigint AS hi, count(*)::int AS records
		FROM (`+affected+`) a GROUP BY chunk_seq`, x, job.Institution)
	if err == nil && planned == 0 {
		return nothingLeft(ctx, tx, job, x)
	}
	return err
}

// Process deletes or restores the records of one chunk of the import (the
// chunk's lo key is the import's chunk), re-checking each one.
func (Kind) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	x := target(job)
	kept, err := changes.ReadChunk(ctx, tx, x, int(c.Lo))
	if err != nil {
		return err
	}
	if kept == nil {
		return fmt.Errorf("job %d kept no changes of its chunk %d", x, c.Lo)
	}
	created := map[int64]bool{}
	before := map[int64][]byte{}
	var ids []int64
	for _, id := range kept.Created {
		created[id] = true
		ids = append(ids, id)
	}
	for _, v := range kept.Changed {
		before[v.RecordID] = v.MARC
		ids = append(ids, v.RecordID)
	}
	rows, err := tx.Query(ctx, `SELECT id, record_type, coalesce(job_id, 0), version, marc, deleted
		FROM records WHERE id = ANY($1) AND institution = $2 ORDER BY id FOR UPDATE`, ids, job.Institution)
	if err != nil {
		return err
	}
	type rec struct {
		id         int64
		recordType string
		lastJob    int64
		version    int
		current    []byte
		deleted    bool
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		return x, r.Scan(&x.id, &x.recordType, &x.lastJob, &x.version, &x.current, &x.deleted)
	})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := fmt.Sprint(r.id)
		switch {
		case created[r.id] && r.deleted:
			// Deleted since (not by this revert's other chunks: a record is
			// in one chunk): nothing to undo.
		case r.lastJob != x:
			res.Count(Refused, 1)
			res.Report(id, jobs.OutcomeError, fmt.Sprintf("changed by job %d since; not reverted", r.lastJob))
		case created[r.id]:
			// A tombstone, not a DELETE: publishing must see the deletion
			// (its deletes file), and the record id is never reused. Its
			// match keys go, so no import matches it again.
			if _, err := tx.Exec(ctx, `UPDATE records SET deleted = true, updated_at = now(), job_id = $2, change_xid = pg_current_xact_id()
				WHERE id = $1`, r.id, job.ID); err != nil {
				return err
			}
			if err := deleteKeys(ctx, tx, job.Institution, r.id, r.current); err != nil {
				return err
			}
			res.Count(Deleted, 1)
			res.Report(id, jobs.OutcomeSuccess, fmt.Sprintf("deleted (created by job %d)", x))
		default:
			if err := restore(ctx, tx, job, r.id, r.recordType, r.version, r.current, before[r.id]); err != nil {
				return fmt.Errorf("record %d: %w", r.id, err)
			}
			res.Count(Restored, 1)
			res.Report(id, jobs.OutcomeSuccess, fmt.Sprintf("restored to its version before job %d", x))
		}
	}
	return nil
}

// restore writes back the version before the import, keeping the current
// one as a version of this revert job (so a revert can be reverted too).
func restore(ctx context.Context, tx pgx.Tx, job *jobs.Job, id int64, recordType string, version int, current, before []byte) error {
	rec, err := marc.Unmarshal(before)
	if err != nil {
		return fmt.Errorf("stored previous version unreadable: %w", err)
	}
	title := catalog.Title(rec)
	if recordType == "authority" {
		title = catalog.Heading(rec)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO record_versions (record_id, version, job_id, marc) VALUES ($1, $2, $3, $4)`,
		id, version, job.ID, current); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE records SET marc = $2, title = $3, version = version + 1, updated_at = now(), job_id = $4,
			change_xid = pg_current_xact_id()
		WHERE id = $1`, id, before, title, job.ID); err != nil {
		return err
	}
	if err := deleteKeys(ctx, tx, job.Institution, id, current); err != nil {
		return err
	}
	for _, k := range catalog.Keys(rec) {
		if _, err := tx.Exec(ctx, `INSERT INTO record_keys (record_id, institution, kind, value) VALUES ($1, $2, $3, $4)`,
			id, job.Institution, k.Kind, k.Value); err != nil {
			return err
		}
	}
	return nil
}

// deleteKeys deletes the record_keys rows of the record whose stored MARC
// is current (catalog.StoredKeys).
func deleteKeys(ctx context.Context, tx pgx.Tx, institution string, id int64, current []byte) error {
	keys, err := catalog.StoredKeys(ctx, tx, id, current)
	if err != nil {
		return err
	}
	var kinds, values []string
	for _, k := range keys {
		kinds, values = append(kinds, k.Kind), append(values, k.Value)
	}
	_, err = tx.Exec(ctx, `DELETE FROM record_keys k USING unnest($2::text[], $3::text[]) AS d(kind, value)
		WHERE record_key(k.institution, k.kind, k.value) = record_key($4, d.kind, d.value) AND k.record_id = $1`, id, kinds, values, institution)
	return err
}

// revertedBy is the first other revert of the import x that ended in one of
// statuses, or 0.
func revertedBy(ctx context.Context, tx pgx.Tx, job *jobs.Job, x int64, statuses ...jobs.Status) (int64, error) {
	names := make([]string, len(statuses))
	for i, st := range statuses {
		names[i] = string(st)
	}
	var by int64
	err := tx.QueryRow(ctx, `SELECT id FROM jobs WHERE type = $1 AND institution = $2 AND id <> $3
		AND params->>'job' = $4 AND status = ANY($5) ORDER BY id LIMIT 1`,
		TypeID, job.Institution, job.ID, strconv.FormatInt(x, 10), names).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return by, err
}

func alreadyReverted(x, by int64) error {
	return &jobs.NothingToDo{Reason: fmt.Sprintf("nothing left to revert: job %d was already reverted by job %d", x, by)}
}

// nothingLeft says why the import x has no record to revert: an earlier
// revert undid it, or it created and changed nothing.
func nothingLeft(ctx context.Context, tx pgx.Tx, job *jobs.Job, x int64) error {
	by, err := revertedBy(ctx, tx, job, x, jobs.CompletedSuccess, jobs.CompletedWarning)
	switch {
	case err != nil:
		return err
	case by != 0:
		return alreadyReverted(x, by)
	}
	return &jobs.NothingToDo{Reason: fmt.Sprintf("nothing to revert: job %d created or changed no record", x)}
}
