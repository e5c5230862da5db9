package bench_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	pkgcatalog "github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/testenv"
)

// genRecords feeds generated records (seed.WriteMARC through a pipe) to COPY.
type genRecords struct {
	r   *marc.BinaryReader
	row []any
	err error
}

func (s *genRecords) Next() bool {
	rec, err := s.r.Read()
	if errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		s.err = err
		return false
	}
	raw, err := marc.Marshal(rec)
	if err != nil {
		s.err = err
		return false
	}
	s.row = []any{"DEMO", "bib", raw, pkgcatalog.Title(rec)}
	return true
}

func (s *genRecords) Values() ([]any, error) { return s.row, nil }
func (s *genRecords) Err() error             { return s.err }

// BenchmarkSetSnapshot: a logical set with a MARC field condition over
// BINDERY_BENCH_SET_RECORDS catalog records (default 200000), snapshot as a
// job start takes it, beside the raw limit measured in the same run (a
// sequential COPY of the same records' MARC out of PostgreSQL, which every
// approach that reads the fields must pay); then a pure SQL query, and an
// itemized upload of 100000 MMS IDs.
func BenchmarkSetSnapshot(b *testing.B) {
	ctx := context.Background()
	n := int64(envInt("BINDERY_BENCH_SET_RECORDS", 200000))
	db := testenv.NewDatabase(b)
	templates, err := seed.LoadTemplates("../testdata/marc/jazz_1k.mrc", "../testdata/marc/lul_fre_100.mrc")
	if err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := seed.WriteMARC(pw, templates, n)
		pw.CloseWithError(err)
	}()
	br, err := marc.NewBinaryReader(pr, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"institution", "record_type", "marc", "title"}, &genRecords{r: br}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `VACUUM ANALYZE records`); err != nil {
		b.Fatal(err)
	}
	var mb float64
	_ = db.Pool.QueryRow(ctx, `SELECT sum(length(marc)) / 1e6 FROM records`).Scan(&mb)

	// The raw limit: the MARC bytes of every record, out of PostgreSQL
	// (binary COPY, as pgx reads them), best of two so the cache is warm.
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	raw := time.Duration(1 << 62)
	for range 2 {
		start := time.Now()
		if _, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, `COPY (SELECT marc FROM records
				WHERE institution = 'DEMO' AND record_type = 'bib' AND NOT deleted) TO STDOUT (FORMAT binary)`); err != nil {
			b.Fatal(err)
		}
		raw = min(raw, time.Since(start))
	}
	conn.Release()

	snap := func(name, q string) (int64, time.Duration) {
		s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: "DEMO", CreatedBy: "bench", Name: name, Query: q})
		if err != nil {
			b.Fatal(err)
		}
		job, err := jobs.NewStore(db.Pool).Insert(ctx, jobs.NewJob{Institution: "DEMO", Type: "noop", SubmittedBy: "bench",
			Params: map[string]any{}, PriorityClass: "default"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var got int64
		start := time.Now()
		err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			got, err = sets.Snapshot(ctx, tx, "DEMO", s.ID, job.ID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return got, time.Since(start)
	}
	b.ResetTimer()
	members, took := snap("jazz", `650 $a contains "jazz"`)
	fewMembers, fewTook := snap("sax", `650 $a = "Saxophone with jazz ensemble"`)
	sqlMembers, sqlTook := snap("sql", `NOT suppressed AND created >= 2000-01-01 AND title contains "jazz"`)
	b.StopTimer()

	// Itemized: 100000 ids (every other one unknown) resolved in one upload.
	ids := min(n, 100000)
	var sb strings.Builder
	sb.WriteString("MMS ID\n")
	for i := int64(0); i < ids; i++ {
		fmt.Fprintf(&sb, "%d\n", 990000000001+2*i)
	}
	start := time.Now()
	item, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: "DEMO", CreatedBy: "bench", Name: "picked"}, strings.NewReader(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	upload := time.Since(start)

	rate := float64(n) / took.Seconds()
	rawRate := float64(n) / raw.Seconds()
	b.ReportMetric(rate, "records/s")
	fmt.Printf("Logical set snapshot with a MARC condition (%d records, %.0f MB): %.0f records/s (%d members in %s) | raw binary COPY of the same MARC %.0f records/s (%s) | %.0f%% of the raw limit\n",
		n, mb, rate, members, took.Round(time.Millisecond), rawRate, raw.Round(time.Millisecond), 100*rate/rawRate)
	fmt.Printf("Logical set snapshot with a selective MARC condition (%d records): %.0f records/s (%d members in %s) | raw binary COPY of the same MARC %.0f records/s | %.0f%% of the raw limit\n",
		n, float64(n)/fewTook.Seconds(), fewMembers, fewTook.Round(time.Millisecond), rawRate, 100*raw.Seconds()/fewTook.Seconds())
	fmt.Printf("Logical set snapshot in SQL only (%d records): %.0f records/s (%d members in %s) | raw COPY of the MARC %.0f records/s | %.1fx the raw limit\n",
		n, float64(n)/sqlTook.Seconds(), sqlMembers, sqlTook.Round(time.Millisecond), rawRate, raw.Seconds()/sqlTook.Seconds())
	fmt.Printf("Itemized set upload (%d MMS IDs): %.0f ids/s (%d members, %d problems in %s) | raw COPY of the MARC %.0f records/s\n",
		ids, float64(ids)/upload.Seconds(), *item.Members, item.ProblemCount, upload.Round(time.Millisecond), rawRate)
}
