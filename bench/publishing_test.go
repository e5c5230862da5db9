package bench_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers/publishing"
)

// referenceExportOffPeak is the reference platform's off-peak Metadata
// Export rate (records/hour).
const referenceExportOffPeak = 600000.0

// BenchmarkPublishing: records/s of a full General Publishing run (MARC 21,
// no gzip) of a million generated records through the real binary, one
// `bindery server` and one `bindery worker` process, beside the raw limit:
// one sequential COPY (SELECT marc FROM records WHERE …) TO STDOUT of the
// same rows, its records written to one file through the same 1 MB buffer
// and SHA-256, and synced. Peak RSS of both processes says whether memory
// stays flat.
//
// BINDERY_BENCH_PUBLISH_RECORDS sets the number of records (1000000),
// BINDERY_BENCH_PUBLISH_ROTATE the records per file (50000),
// BINDERY_BENCH_CONCURRENCY the worker's concurrency (4).
func BenchmarkPublishing(b *testing.B) {
	records := envInt("BINDERY_BENCH_PUBLISH_RECORDS", 1000000)
	rotate := envInt("BINDERY_BENCH_PUBLISH_ROTATE", 50000)
	concurrency := envInt("BINDERY_BENCH_CONCURRENCY", 4)
	db := testenv.NewDatabase(b)
	rdb := testenv.NewRedis(b)
	dir := b.TempDir()
	outDir := filepath.Join(dir, "published")
	ctx := context.Background()

	for b.Loop() {
		t0 := time.Now()
		bin := buildBindery(b, dir)
		cfg, err := os.ReadFile("../config/bindery.yaml")
		if err != nil {
			b.Fatal(err)
		}
		cfgText := strings.NewReplacer("/var/tmp/bindery/publishing/discovery", outDir,
			"rotate_every: 100000\n    gzip: false", fmt.Sprintf("rotate_every: %d\n    gzip: false", rotate)).Replace(string(cfg))
		if !strings.Contains(cfgText, outDir) || !strings.Contains(cfgText, fmt.Sprintf("rotate_every: %d", rotate)) {
			b.Fatal("config/bindery.yaml has no discovery publishing profile to point at the benchmark's directory")
		}
		cfgPath := filepath.Join(dir, "bindery.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
			b.Fatal(err)
		}

		// Not timed: the catalog, generated records written straight into it.
		templates, err := seed.LoadTemplates("../"+seed.MARCSources[0], "../"+seed.MARCSources[1], "../"+seed.MARCSources[2])
		if err != nil {
			b.Fatal(err)
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := seed.WriteMARC(pw, templates, int64(records))
			pw.CloseWithError(err)
		}()
		src := &recordSource{r: bufio.NewReaderSize(pr, 1<<20)}
		n, err := db.Pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"institution", "record_type", "marc"}, src)
		if err == nil {
			err = src.err
		}
		if err != nil || n != int64(records) {
			b.Fatalf("loading the catalog: %d rows, %v", n, err)
		}
		var catalogBytes int64
		if err := db.Pool.QueryRow(ctx, `SELECT sum(octet_length(marc)) FROM records`).Scan(&catalogBytes); err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{`VACUUM ANALYZE records`, `CHECKPOINT`} {
			if _, err := db.Pool.Exec(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
		setup := time.Since(t0)

		c := startCluster(b, bin, dir, cfgPath, db.URL, rdb.URL, concurrency)

		t1 := time.Now()
		out := c.run("job", "run", publishing.TypeID, "--param", "profile=discovery", "--param", "mode=full", "--wait")
		dur := time.Since(t1)
		serverRSS, workerRSS := c.server.peakRSS(b), c.worker.peakRSS(b)
		c.stop()
		id, err := strconv.ParseInt(strings.Fields(out)[0], 10, 64)
		if err != nil {
			b.Fatalf("job run printed %q", out)
		}
		store := jobs.NewStore(db.Pool)
		job, err := store.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		files, err := store.Files(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		var published int64
		for _, f := range files {
			if f.Kind == "records" {
				published += f.Bytes
			}
		}
		if job.Status != jobs.CompletedSuccess || job.Counters[publishing.Published] != int64(records) || published != catalogBytes {
			b.Fatalf("publishing ended %s with counters %v and %d bytes in files; want %s, %d records, %d bytes",
				job.Status, job.Counters, published, jobs.CompletedSuccess, records, catalogBytes)
		}
		inServer := job.EndedAt.Sub(job.SubmittedAt)

		// The limit: the same rows, one sequential COPY, written the same way.
		if _, err := db.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		rawBytes, err := rawExport(ctx, db.URL, filepath.Join(dir, "raw.mrc"))
		limitDur := time.Since(t2)
		if err != nil || rawBytes != catalogBytes {
			b.Fatalf("raw COPY: %d bytes (want %d), %v", rawBytes, catalogBytes, err)
		}

		rate := float64(records) / dur.Seconds()
		limit := float64(records) / limitDur.Seconds()
		fmt.Printf("  setup: build + generate and load %d records (%.0f MB) %.1fs | job phases: %s | %d files\n",
			records, float64(catalogBytes)/(1<<20), setup.Seconds(), phases(job), len(files))
		fmt.Printf("  CLI submit → exit %.1fs; submitted → %s %.1fs (%.0f records/s); raw COPY to a file %.1fs (%.0f MB/s)\n",
			dur.Seconds(), job.Status, inServer.Seconds(), float64(records)/inServer.Seconds(), limitDur.Seconds(),
			float64(catalogBytes)/(1<<20)/limitDur.Seconds())
		b.ReportMetric(rate, "records/s")
		b.ReportMetric(limit, "limit-records/s")
		b.ReportMetric(rate/limit, "ratio")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("general publishing: %.0f records/s (%.1fM/hour; %d records, full, MARC 21, %d per file, worker concurrency %d) | raw COPY: %.0f records/s | ratio %.2f | peak RSS server %.0f MB, worker %.0f MB | reference (export, off-peak): %.0f/hour\n",
			rate, rate*3600/1e6, records, rotate, concurrency, limit, rate/limit, serverRSS, workerRSS, referenceExportOffPeak)
	}
}

// rawExport is the physical limit of publishing: one sequential binary
// COPY of the records' MARC, each record's bytes written to one file
// through a 1 MB buffer and SHA-256 (what a publishing chunk does), synced.
// It returns the bytes written.
func rawExport(ctx context.Context, url, path string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	sink := &hashedFile{f: f, sum: sha256.New()}
	bw := bufio.NewWriterSize(sink, 1<<20)
	cw := &copyRecords{w: bw}
	_, err = conn.PgConn().CopyTo(ctx, cw, `COPY (SELECT marc FROM records
		WHERE institution = 'DEMO' AND record_type = 'bib' AND NOT deleted ORDER BY id) TO STDOUT (FORMAT binary)`)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return sink.n, err
}

type hashedFile struct {
	f   *os.File
	sum hash.Hash
	n   int64
}

func (h *hashedFile) Write(p []byte) (int, error) {
	n, err := h.f.Write(p)
	h.sum.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// copyRecords takes a binary COPY stream of one bytea column and writes
// each value's bytes to w.
type copyRecords struct {
	w      io.Writer
	header int    // header bytes still to skip (19 once known)
	state  int    // 0 field count, 1 length, 2 value
	need   int    // bytes of value left
	small  []byte // a count or length split across writes
	begun  bool
}

func (c *copyRecords) Write(p []byte) (int, error) {
	total := len(p)
	if !c.begun {
		c.begun, c.header = true, 19 // signature (11), flags (4), extension length (4, zero)
	}
	for len(p) > 0 {
		if c.header > 0 {
			k := min(c.header, len(p))
			c.header, p = c.header-k, p[k:]
			continue
		}
		switch c.state {
		case 0, 1:
			want := 2
			if c.state == 1 {
				want = 4
			}
			k := min(want-len(c.small), len(p))
			c.small, p = append(c.small, p[:k]...), p[k:]
			if len(c.small) < want {
				continue
			}
			if c.state == 0 {
				if int16(binary.BigEndian.Uint16(c.small)) == -1 {
					return total, nil // trailer
				}
				c.state = 1
			} else {
				c.need, c.state = int(int32(binary.BigEndian.Uint32(c.small))), 2
				if c.need < 0 {
					return 0, errors.New("raw COPY: NULL marc")
				}
			}
			c.small = c.small[:0]
		case 2:
			k := min(c.need, len(p))
			if _, err := c.w.Write(p[:k]); err != nil {
				return 0, err
			}
			c.need, p = c.need-k, p[k:]
			if c.need == 0 {
				c.state = 0
			}
		}
	}
	return total, nil
}
