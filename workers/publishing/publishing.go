// Package publishing holds the jobs that take records out of the catalog
// into files: General Publishing (a publishing profile's records, in full
// or what changed since the profile's last completed run, deletions
// included) and Export Bibliographic Records (a list of records, for
// download).
//
// One chunk writes one file: the chunk's records, streamed from PostgreSQL
// into a hidden temporary file, which the chunk registers in job_files in
// its own transaction. When every chunk has ended the run's finalization
// renames the files to their names, writes the manifest (files, counts,
// SHA-256) and, for General Publishing, moves the profile's watermark. A
// redelivered chunk writes a new temporary file; only the delivery that
// commits is registered, and finalization removes the others.
//
// Incremental runs rely on records.change_xid (migration 0010): every write
// of a record stores the id of the transaction that made it. A run takes a
// snapshot (pg_current_snapshot) before it plans; the next incremental run
// publishes every record whose last write is not visible in that snapshot.
// A transaction still in progress when the snapshot was taken is not
// visible in it, whatever its id and whenever it commits, so no change
// falls between two runs; a change a run happens to read although it came
// after the snapshot is simply published again by the next run.
package publishing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/sets"
)

// Job type ids in the catalog.
const (
	TypeID       = "general-publishing"
	ExportTypeID = "export-bib-records"
)

// Counter names.
const (
	Published = "records_published" // written to a records file
	Deleted   = "records_deleted"   // written to a deletes file
	Failed    = "records_failed"    // could not be written (in the report)
	Files     = "files"
)

// Modes of a run.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeExport      = "export"
)

// Kind implements General Publishing. Catalog holds the publishing
// profiles; it is needed to plan (on the server), not to process chunks.
type Kind struct {
	Catalog *config.Config
}

// ExportKind implements Export Bibliographic Records.
type ExportKind struct {
	Catalog *config.Config
}

var (
	_ jobs.Kind      = Kind{}
	_ jobs.Finalizer = Kind{}
	_ jobs.Cleaner   = Kind{}
	_ jobs.Kind      = ExportKind{}
	_ jobs.Finalizer = ExportKind{}
	_ jobs.Cleaner   = ExportKind{}
)

// errNoCatalog is a kind built without the configuration asked to plan.
var errNoCatalog = errors.New("this process was built without the configuration: it can run chunks but not plan publishing jobs")

// Plan resolves the profile, takes the run's snapshot and plans the records
// (and, incrementally, the deletions) into chunks of rotate_every records.
func (k Kind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, _ int) error {
	if k.Catalog == nil {
		return errNoCatalog
	}
	id, _ := job.Params["profile"].(string)
	p, ok := k.Catalog.PublishingProfile(id, job.Institution)
	if !ok {
		return fmt.Errorf("no publishing profile %q for institution %s (known: %s)", id, job.Institution,
			strings.Join(k.Catalog.PublishingProfilesFor(job.Institution), ", "))
	}
	mode, _ := job.Params["mode"].(string)
	if mode == "" {
		mode = ModeIncremental
	}
	if mode != ModeFull && mode != ModeIncremental {
		return fmt.Errorf("mode %q is not full or incremental", mode)
	}
	r := &run{JobID: job.ID, Institution: job.Institution, Mode: mode, Prefix: p.ID, Profile: *p}
	if err := r.insert(ctx, tx); err != nil {
		return err
	}
	if p.Records == "set" {
		if err := snapshotSet(ctx, tx, job, p.Set); err != nil {
			return fmt.Errorf("publishing profile %s: %w", p.ID, err)
		}
	}
	chunks, err := r.plan(ctx, tx)
	if err != nil {
		return err
	}
	if chunks == 0 {
		// Nothing to publish: the run is complete as planned (it ends
		// COMPLETED_NO_BULKS, and no Cleanup runs), so the watermark moves
		// and the set's snapshot goes now.
		if err := r.dropSnapshot(ctx, tx); err != nil {
			return err
		}
		if err := r.moveWatermark(ctx, tx); err != nil {
			return err
		}
		if mode == ModeIncremental {
			return &jobs.NothingToDo{Reason: fmt.Sprintf("nothing to publish: no record of profile %s changed since its last run", p.ID)}
		}
		return &jobs.NothingToDo{Reason: fmt.Sprintf("nothing to publish: profile %s selects no record", p.ID)}
	}
	return nil
}

// Plan takes the snapshot of the set and plans its records into chunks.
func (k ExportKind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, _ int) error {
	if k.Catalog == nil {
		return errNoCatalog
	}
	setID, err := job.IntParam(config.SetParam)
	if err != nil {
		return err
	}
	format, _ := job.Params["format"].(string)
	if format == "" {
		format = "marc21"
	}
	gz, _ := job.Params["gzip"].(bool)
	p := config.PublishingProfile{ID: "export", Institution: job.Institution, Name: "Export Bibliographic Records",
		Records: "set", Set: setID, Format: format, Directory: k.Catalog.JobFiles.Directory,
		RotateEvery: k.Catalog.JobFiles.RotateEvery, Gzip: gz}
	r := &run{JobID: job.ID, Institution: job.Institution, Mode: ModeExport, Prefix: "export", Profile: p}
	if err := r.insert(ctx, tx); err != nil {
		return err
	}
	if err := snapshotSet(ctx, tx, job, setID); err != nil {
		return err
	}
	chunks, err := r.plan(ctx, tx)
	if err != nil || chunks > 0 {
		return err
	}
	if err := r.dropSnapshot(ctx, tx); err != nil {
		return err
	}
	return &jobs.NothingToDo{Reason: fmt.Sprintf("nothing to export: set %d has no live record now", setID)}
}

// dropSnapshot removes the job's snapshot of its set, if it took one.
func (r *run) dropSnapshot(ctx context.Context, tx pgx.Tx) error {
	if r.Profile.Records != "set" {
		return nil
	}
	return sets.DropSnapshot(ctx, tx, r.JobID)
}

// snapshotSet copies the set's members as they are now into
// job_set_members (pkg/sets), after checking it holds bib records.
func snapshotSet(ctx context.Context, tx pgx.Tx, job *jobs.Job, setID int64) error {
	s, err := sets.Get(ctx, tx, job.Institution, setID)
	if errors.Is(err, sets.ErrNotFound) {
		return fmt.Errorf("set %d of institution %s does not exist (any more)", setID, job.Institution)
	}
	if err != nil {
		return err
	}
	if s.ContentType != sets.ContentBib {
		return fmt.Errorf("set %d (%q) holds %s; publishing and export take sets of %s", s.ID, s.Name,
			sets.ContentNoun(s.ContentType), sets.ContentNoun(sets.ContentBib))
	}
	_, err = sets.Snapshot(ctx, tx, job.Institution, setID, job.ID)
	return err
}

// Process writes the chunk's file.
func (Kind) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	return process(ctx, tx, job, c, res)
}

// Process writes the chunk's file.
func (ExportKind) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	return process(ctx, tx, job, c, res)
}

// Finalize renames the run's files, writes its manifest and moves the watermark.
func (Kind) Finalize(ctx context.Context, tx pgx.Tx, job *jobs.Job, out *jobs.Outcome) error {
	return finalize(ctx, tx, job, out)
}

// Finalize renames the run's files and writes its manifest.
func (ExportKind) Finalize(ctx context.Context, tx pgx.Tx, job *jobs.Job, out *jobs.Outcome) error {
	return finalize(ctx, tx, job, out)
}

// Cleanup removes what is left of the run's temporary files.
func (Kind) Cleanup(ctx context.Context, tx pgx.Tx, job *jobs.Job) error {
	return cleanup(ctx, tx, job)
}

// Cleanup removes what is left of the run's temporary files.
func (ExportKind) Cleanup(ctx context.Context, tx pgx.Tx, job *jobs.Job) error {
	return cleanup(ctx, tx, job)
}

// run is one publishing or export run, as publishing_runs keeps it.
type run struct {
	JobID         int64
	Institution   string
	Mode          string
	Prefix        string // file name prefix: the profile id, or "export"
	Profile       config.PublishingProfile
	Incremental   bool // there is a watermark to publish since
	DeleteFromSeq int
}

// insert records the run with its snapshot: taken before the population
// is read, so whatever the plan and the chunks read beyond it is published
// again by the next run, never missed.
func (r *run) insert(ctx context.Context, tx pgx.Tx) error {
	profile, err := json.Marshal(r.Profile)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM publishing_runs WHERE job_id = $1`, r.JobID); err != nil {
		return err
	}
	return tx.QueryRow(ctx, `INSERT INTO publishing_runs (job_id, institution, profile_id, profile, mode, since, upto, delete_from_seq)
		VALUES ($1, $2, $3, $4, $5,
			CASE WHEN $5 = 'incremental' THEN (SELECT upto FROM publishing_watermarks WHERE institution = $2 AND profile_id = $3) END,
			pg_current_snapshot(), 0)
		RETURNING since IS NOT NULL`, r.JobID, r.Institution, r.Prefix, profile, r.Mode).Scan(&r.Incremental)
}

// load reads the run of a job.
func load(ctx context.Context, q jobs.DBTX, jobID int64) (*run, error) {
	r := &run{JobID: jobID}
	var profile []byte
	err := q.QueryRow(ctx, `SELECT institution, profile_id, profile, mode, since IS NOT NULL, delete_from_seq
		FROM publishing_runs WHERE job_id = $1`, jobID).Scan(&r.Institution, &r.Prefix, &profile, &r.Mode, &r.Incremental, &r.DeleteFromSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("job %d has no publishing run (was it planned?)", jobID)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(profile, &r.Profile); err != nil {
		return nil, fmt.Errorf("job %d: publishing profile: %w", jobID, err)
	}
	r.Prefix = r.Profile.ID
	return r, nil
}

// source is the FROM clause of the run's records (records r) and the
// chunk key: the record id, or for a set the member's ord in the job's
// snapshot of it (so a chunk is a range of the primary key of
// job_set_members, and records come out in the set's order).
//
// A set's snapshot holds live records only, so a set's deletions come from
// the catalog: the deleted records that are members of the set (itemized),
// or every deleted bib record of the institution (logical: a deleted record
// no longer answers the query; deleting what a target never had is
// harmless).
func (r *run) source(deleted bool) (from, key, filter string) {
	switch {
	case r.Profile.Records != "set":
		return `records r`, "r.id", ""
	case !deleted:
		return `job_set_members m JOIN records r ON r.id = m.member_id AND m.job_id = $1`, "m.ord", ""
	default:
		set := strconv.FormatInt(r.Profile.Set, 10)
		return `records r`, "r.id", ` AND (NOT EXISTS (SELECT 1 FROM sets WHERE id = ` + set + ` AND kind = 'itemized')
			OR r.id IN (SELECT member_id FROM set_members WHERE set_id = ` + set + `))`
	}
}

// population is the WHERE clause of the records a chunk of the run reads:
// $1 job, $2 institution, $3 deleted?.
func (r *run) population() string {
	w := `$1::bigint > 0 AND r.institution = $2 AND r.record_type = 'bib' AND r.deleted = $3`
	if r.Incremental {
		// The index on (institution, change_xid) finds the candidates: a
		// transaction below the snapshot's xmin is visible in it.
		w += ` AND r.change_xid >= (SELECT pg_snapshot_xmin(since) FROM publishing_runs WHERE job_id = $1)
			AND NOT pg_visible_in_snapshot(r.change_xid, (SELECT since FROM publishing_runs WHERE job_id = $1))`
	}
	return w
}

func (r *run) args(deleted bool) []any {
	return []any{r.JobID, r.Institution, deleted}
}

// plan writes the chunk ledger: the records to publish, then (incremental
// runs) the deleted records, rotate_every to a chunk. It returns the number
// of chunks.
func (r *run) plan(ctx context.Context, tx pgx.Tx) (int, error) {
	keys := func(deleted bool) string {
		from, key, filter := r.source(deleted)
		return fmt.Sprintf(`SELECT %s AS key FROM %s WHERE %s%s`, key, from, r.population(), filter)
	}
	liveKeys, liveArgs := keys(false), r.args(false)
	if !r.Incremental && r.Profile.Records != "set" {
		// Every bib record of the institution: planned from the index alone
		// (an index-only scan, no heap visit per record); the chunks skip
		// the few tombstones, so a file may hold fewer than rotate_every.
		liveKeys, liveArgs = `SELECT r.id AS key FROM records r WHERE $1::bigint > 0 AND r.institution = $2 AND r.record_type = 'bib'`, liveArgs[:2]
	}
	live, err := planRanges(ctx, tx, r.JobID, r.Profile.RotateEvery, 0, liveKeys, liveArgs)
	if err != nil {
		return 0, err
	}
	r.DeleteFromSeq = live
	if _, err := tx.Exec(ctx, `UPDATE publishing_runs SET delete_from_seq = $2 WHERE job_id = $1`, r.JobID, live); err != nil {
		return 0, err
	}
	if !r.Incremental {
		return live, nil
	}
	deletes, err := planRanges(ctx, tx, r.JobID, r.Profile.RotateEvery, live, keys(true), r.args(true))
	return live + deletes, err
}

// planRanges is jobs.PlanRanges with chunk numbers from seqFrom on.
func planRanges(ctx context.Context, tx pgx.Tx, jobID int64, chunkSize, seqFrom int, keysSQL string, args []any) (int, error) {
	n := len(args)
	sql := fmt.Sprintf(`INSERT INTO chunks (job_id, seq, lo_key, hi_key, records)
		SELECT $1, $%d + g, min(key), max(key), count(*)
		FROM (SELECT key, ((row_number() OVER (ORDER BY key)) - 1) / $%d AS g FROM (%s) pop) numbered
		GROUP BY g`, n+1, n+2, keysSQL)
	tag, err := tx.Exec(ctx, sql, append(args, seqFrom, chunkSize)...)
	if err != nil {
		return 0, fmt.Errorf("plan chunks of job %d: %w", jobID, err)
	}
	return int(tag.RowsAffected()), nil
}

// moveWatermark makes the run's snapshot where the profile's next
// incremental run starts.
func (r *run) moveWatermark(ctx context.Context, tx pgx.Tx) error {
	if r.Mode == ModeExport {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO publishing_watermarks (institution, profile_id, upto, job_id)
		SELECT institution, profile_id, upto, job_id FROM publishing_runs WHERE job_id = $1
		ON CONFLICT (institution, profile_id) DO UPDATE SET upto = excluded.upto, job_id = excluded.job_id, moved_at = now()`, r.JobID)
	return err
}
