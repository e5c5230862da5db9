package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
)

// File is a file a job wrote for people or systems to take (publishing,
// export): listed and downloaded through the API.
type File struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"` // records | deletes | manifest
	Records int64     `json:"records"`
	Bytes   int64     `json:"bytes"`
	SHA256  string    `json:"sha256"`
	Created time.Time `json:"created_at"`
	// Path is where the file is on the server.
	Path string `json:"-"`
}

// ErrFileNotFound is a file the job did not write (or not yet: a run's
// files are listed once the run has completed).
var ErrFileNotFound = errors.New("job file not found")

const fileColumns = `name, kind, records, bytes, sha256, created_at, directory`

func scanFile(row pgx.Row) (File, error) {
	var f File
	var dir string
	err := row.Scan(&f.Name, &f.Kind, &f.Records, &f.Bytes, &f.SHA256, &f.Created, &dir)
	f.Path = filepath.Join(dir, f.Name)
	return f, err
}

// Files lists the files a job has published (those of a run still in
// progress, under their temporary names, are not listed).
func (s *Store) Files(ctx context.Context, jobID int64) ([]File, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+fileColumns+` FROM job_files
		WHERE job_id = $1 AND tmp_name IS NULL ORDER BY kind = 'manifest', kind, chunk_seq, name`, jobID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (File, error) { return scanFile(r) })
}

// File returns one published file of a job.
func (s *Store) File(ctx context.Context, jobID int64, name string) (File, error) {
	f, err := scanFile(s.Pool.QueryRow(ctx, `SELECT `+fileColumns+` FROM job_files
		WHERE job_id = $1 AND name = $2 AND tmp_name IS NULL`, jobID, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, ErrFileNotFound
	}
	return f, err
}
