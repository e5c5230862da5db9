package publishing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
)

// File is one file a job wrote, as the manifest and the API list it.
type File struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // records | deletes | manifest
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
}

// Manifest is <prefix>_<job>_manifest.json: what a completed run wrote.
type Manifest struct {
	JobID       int64     `json:"job_id"`
	Institution string    `json:"institution"`
	Profile     string    `json:"profile"`
	Mode        string    `json:"mode"` // full | incremental | export
	Since       *int64    `json:"since_job,omitempty"`
	Format      string    `json:"format"`
	Gzip        bool      `json:"gzip"`
	Status      string    `json:"status"`
	CompletedAt time.Time `json:"completed_at"`
	Records     int64     `json:"records"`
	Deleted     int64     `json:"deleted"`
	Files       []File    `json:"files"`
}

type registered struct {
	File
	seq int
	tmp string // "" once renamed
}

// finalize, for a run whose chunks all ended: a completed run's files are
// renamed to their names and made durable, its manifest written and (General
// Publishing) its snapshot becomes the profile's watermark. A failed run
// publishes nothing: its temporary files are removed and the watermark stays.
func finalize(ctx context.Context, tx pgx.Tx, job *jobs.Job, out *jobs.Outcome) error {
	r, err := load(ctx, tx, job.ID)
	if err != nil {
		return err
	}
	dir := r.Profile.Directory
	rows, err := tx.Query(ctx, `SELECT name, kind, records, bytes, sha256, coalesce(chunk_seq, 0), coalesce(tmp_name, '')
		FROM job_files WHERE job_id = $1 AND kind <> 'manifest' ORDER BY chunk_seq`, job.ID)
	if err != nil {
		return err
	}
	files, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (registered, error) {
		var f registered
		return f, row.Scan(&f.Name, &f.Kind, &f.Records, &f.Bytes, &f.SHA256, &f.seq, &f.tmp)
	})
	if err != nil {
		return err
	}
	if out.Status != jobs.CompletedSuccess && out.Status != jobs.CompletedWarning {
		for _, f := range files {
			if f.tmp != "" {
				_ = os.Remove(filepath.Join(dir, f.tmp))
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM job_files WHERE job_id = $1`, job.ID); err != nil {
			return err
		}
		out.Message = joinMessage(out.Message, "nothing was published; the next incremental run covers this run's changes")
		return nil
	}
	var missing []string
	for _, f := range files {
		if f.tmp == "" {
			continue
		}
		err := os.Rename(filepath.Join(dir, f.tmp), filepath.Join(dir, f.Name))
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, f.Name)); serr == nil {
				continue // renamed by a finalization that did not commit
			}
			missing = append(missing, fmt.Sprintf("file %s of chunk %d is not in %s: do the workers write to the same directory as the server (a shared file system)?", f.Name, f.seq, dir))
			continue
		}
		if err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		for _, f := range files {
			_ = os.Remove(filepath.Join(dir, f.Name))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM job_files WHERE job_id = $1`, job.ID); err != nil {
			return err
		}
		out.Status = jobs.CompletedFailed
		out.Alerts = append(out.Alerts, missing...)
		out.Message = joinMessage(out.Message, fmt.Sprintf("%d files are missing; nothing was published", len(missing)))
		return nil
	}
	// The files must survive a crash once the job is reported complete.
	for _, f := range files {
		if err := syncFile(filepath.Join(dir, f.Name)); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE job_files SET tmp_name = NULL WHERE job_id = $1`, job.ID); err != nil {
		return err
	}
	m := Manifest{JobID: job.ID, Institution: r.Institution, Profile: r.Prefix, Mode: r.Mode, Format: r.Profile.Format,
		Gzip: r.Profile.Gzip, Status: string(out.Status), CompletedAt: time.Now().UTC(), Files: []File{}}
	if r.Incremental {
		var since int64
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT job_id FROM publishing_watermarks WHERE institution = $1 AND profile_id = $2), 0)`,
			r.Institution, r.Prefix).Scan(&since); err != nil {
			return err
		}
		m.Since = &since
	}
	for _, f := range files {
		m.Files = append(m.Files, f.File)
		if f.Kind == "deletes" {
			m.Deleted += f.Records
		} else {
			m.Records += f.Records
		}
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	name := fmt.Sprintf("%s_%d_manifest.json", r.Prefix, job.ID)
	if err := writeAtomically(dir, name, body); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	sum := sha256.Sum256(body)
	if _, err := tx.Exec(ctx, `INSERT INTO job_files (job_id, name, kind, directory, records, bytes, sha256)
		VALUES ($1, $2, 'manifest', $3, $4, $5, $6)
		ON CONFLICT (job_id, name) DO UPDATE SET bytes = excluded.bytes, sha256 = excluded.sha256, records = excluded.records`,
		job.ID, name, dir, m.Records+m.Deleted, len(body), hex.EncodeToString(sum[:])); err != nil {
		return err
	}
	removeTemps(r)
	return r.moveWatermark(ctx, tx)
}

func joinMessage(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// cleanup removes the run's remaining temporary files (those of deliveries
// that did not commit, or, after an abort, all of them).
func cleanup(ctx context.Context, tx pgx.Tx, job *jobs.Job) error {
	r, err := load(ctx, tx, job.ID)
	if err != nil {
		return nil // never planned: nothing written
	}
	removeTemps(r)
	if err := r.dropSnapshot(ctx, tx); err != nil {
		return err
	}
	if job.Status != jobs.Finalizing {
		// Aborted: what the chunks registered is gone with their files.
		_, err = tx.Exec(ctx, `DELETE FROM job_files WHERE job_id = $1 AND tmp_name IS NOT NULL`, job.ID)
	}
	return err
}

func removeTemps(r *run) {
	tmps, _ := filepath.Glob(r.tmpPattern())
	for _, t := range tmps {
		_ = os.Remove(t)
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAtomically writes a small file under a temporary name, syncs it,
// renames it and syncs the directory.
func writeAtomically(dir, name string, body []byte) error {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
