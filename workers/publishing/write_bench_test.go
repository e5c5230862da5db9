package publishing_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/publishing"
)

// BenchmarkChunk: one publishing chunk of 20,000 records (MARC 21, MARCXML) read
// from PostgreSQL and written to its file, per record: time and
// allocations (the stream allocates per chunk, not per record).
//
//	go test -run '^$' -bench Chunk -benchmem ./workers/publishing
func BenchmarkChunk(b *testing.B) {
	ctx := context.Background()
	db := testenv.NewDatabase(b)
	raw, err := os.ReadFile("../../testdata/marc/jazz_1k.mrc")
	if err != nil {
		b.Fatal(err)
	}
	recs := bytes.SplitAfter(raw, []byte{0x1D})
	recs = recs[:len(recs)-1]
	const n = 20000
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"institution", "record_type", "marc"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return []any{institution, "bib", recs[i%len(recs)]}, nil })); err != nil {
		b.Fatal(err)
	}
	var lo, hi int64
	if err := db.Pool.QueryRow(ctx, `SELECT min(id), max(id) FROM records`).Scan(&lo, &hi); err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"marc21", "marcxml"} {
		b.Run(format, func(b *testing.B) {
			var jobID int64
			if err := db.Pool.QueryRow(ctx, `INSERT INTO jobs (institution, type, status, submitted_by, params, priority_class)
				VALUES ($1, 'general-publishing', 'RUNNING', 'b', '{}', 'bulk') RETURNING id`, institution).Scan(&jobID); err != nil {
				b.Fatal(err)
			}
			profile := `{"id": "bench", "format": "` + format + `", "directory": "` + b.TempDir() + `", "rotate_every": 20000, "records": "all"}`
			if _, err := db.Pool.Exec(ctx, `INSERT INTO publishing_runs VALUES ($1, $2, 'bench', $3, 'full', NULL, pg_current_snapshot(), 1)`,
				jobID, institution, profile); err != nil {
				b.Fatal(err)
			}
			job := &jobs.Job{ID: jobID, Institution: institution, Type: publishing.TypeID}
			c := jobs.Chunk{JobID: jobID, Seq: 0, Lo: lo, Hi: hi, Records: n}
			for b.Loop() {
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					var res jobs.ChunkResult
					if err := (publishing.Kind{}).Process(ctx, tx, job, c, &res); err != nil {
						return err
					}
					if res.Counters[publishing.Published] != n {
						b.Fatalf("published %d", res.Counters[publishing.Published])
					}
					return pgx.ErrTxClosed // roll back: every iteration writes the same file anew
				})
				if err != pgx.ErrTxClosed {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
