package staging_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/staging"
	"github.com/bindery/bindery/pkg/testenv"
)

// BenchmarkStage stages the file named by BINDERY_STAGE_FILE (e.g. made by
// `bindery seed marc --records 100000`) in groups of 1,000, then reads
// every group back and decodes its records as Metadata Import does. It
// reports the server's CPU (stage-cpu-s) and wall time (stage-s), and the
// reading side's (read-s, decode-cpu-s).
func BenchmarkStage(b *testing.B) {
	name := os.Getenv("BINDERY_STAGE_FILE")
	if name == "" {
		b.Skip("BINDERY_STAGE_FILE not set")
	}
	db := testenv.NewDatabase(b)
	ctx := context.Background()
	p := &config.ImportProfile{ID: "p", Encoding: "auto"}
	for b.Loop() {
		f, err := os.Open(name)
		require.NoError(b, err)
		var jobID int64
		cpu0, t0 := cpuTime(), time.Now()
		require.NoError(b, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			job, err := jobs.NewStore(db.Pool).InsertTx(ctx, tx, jobs.NewJob{Institution: "main", Type: "metadata-import",
				SubmittedBy: "bench", PriorityClass: "default"}, nil)
			if err != nil {
				return err
			}
			jobID = job.ID
			_, err = staging.Stage(ctx, tx, job.ID, f, p, 1000)
			return err
		}))
		b.ReportMetric((cpuTime() - cpu0).Seconds(), "stage-cpu-s")
		b.ReportMetric(time.Since(t0).Seconds(), "stage-s")
		f.Close()

		t0 = time.Now()
		var decode time.Duration
		var firsts []int64
		rows, err := db.Pool.Query(ctx, `SELECT first_ord FROM import_staging WHERE job_id = $1 ORDER BY first_ord`, jobID)
		require.NoError(b, err)
		firsts, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(b, err)
		for _, first := range firsts {
			var n int
			var codec string
			var raw, notes []byte
			require.NoError(b, db.Pool.QueryRow(ctx, `SELECT records, coalesce(codec, ''), raw, notes FROM import_staging WHERE job_id = $1 AND first_ord = $2`,
				jobID, first).Scan(&n, &codec, &raw, &notes))
			d0 := cpuTime()
			recs, err := staging.Split(first, n, codec, raw, notes)
			require.NoError(b, err)
			dec, err := marc.NewDecoder(nil)
			require.NoError(b, err)
			for _, r := range recs {
				if rec, err := dec.UnmarshalRaw(r.Raw); err == nil {
					_, _ = marc.Marshal(rec)
				}
			}
			decode += cpuTime() - d0
		}
		b.ReportMetric(time.Since(t0).Seconds(), "read-s")
		b.ReportMetric(decode.Seconds(), "decode-cpu-s")
		_, err = db.Pool.Exec(ctx, `DELETE FROM import_staging`)
		require.NoError(b, err)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
