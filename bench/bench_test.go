// Package bench holds the end-to-end benchmarks behind `make bench`: each
// figure is printed beside the reference platform's figure and beside a
// physical limit measured in the same run, on the same machine.
//
//	go test -run '^$' -bench . -benchtime 1x -count 1 ./bench
//
// Environment knobs (defaults are what `make bench` reports):
//
//	BINDERY_BENCH_NOOP_RECORDS   noop job size (200000; chunk size 50 → 4000 chunks)
//	BINDERY_BENCH_LOANS          loans seeded for Loan Anonymization (1000000)
//	BINDERY_BENCH_CONCURRENCY    worker concurrency, spine and raw asynq alike (4)
//	BINDERY_BENCH_WINDOW         admission window W (the catalog's admission.window)
//	BINDERY_BENCH_IMPORT_RECORDS Metadata Import file size (1000000; half of it pre-imported first)
//	BINDERY_BENCH_PUBLISH_RECORDS General Publishing catalog size (1000000)
//	BINDERY_BENCH_PUBLISH_ROTATE  records per published file (50000)
//
// Besides each summary line they print what the work cost: PostgreSQL
// transactions, Redis commands and CPU per chunk, each process counted on
// its own (so other load on the machine does not blur it), the job's phases
// and where a chunk waited.
//
// They are Benchmark functions, so `go test ./...` never runs them.
package bench_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/config"
	pkgconfig "github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/metrics"
	"github.com/bindery/bindery/pkg/pgconn"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
	"github.com/bindery/bindery/workers/loananon"
	"github.com/bindery/bindery/workers/noop"
)

const (
	institution = "DEMO"
	// noopChunkSize overrides the catalog's noop chunk size so that the
	// spine's per-chunk cost, not per-record work, dominates.
	noopChunkSize = 50
	// referenceImportPeak is the reference platform's peak Metadata Import
	// rate (records/hour). It publishes nothing for Loan Anonymization; this
	// is its closest figure, printed as context, not as a like-for-like target.
	referenceImportPeak = 30000.0
	jobTimeout          = 4 * time.Minute
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// catalog is a private copy of the shipped configuration; benchmarks change
// it freely (the embedded bytes are parsed anew each time).
func catalog(b *testing.B) *pkgconfig.Config {
	b.Helper()
	cat, err := pkgconfig.Parse("bindery.yaml (bench copy)", config.Default)
	if err != nil {
		b.Fatal(err)
	}
	return cat
}

func redisOpt(b *testing.B, r *testenv.Redis) asynq.RedisConnOpt {
	b.Helper()
	opt, err := queue.RedisOpt(r.URL)
	if err != nil {
		b.Fatal(err)
	}
	return opt
}

// startSpine runs an engine and one worker in-process (see runSpine), the
// worker's metrics returned.
func startSpine(b *testing.B, dbURL string, ropt asynq.RedisConnOpt, cat *pkgconfig.Config, concurrency int) (wm *metrics.Metrics, stop func()) {
	b.Helper()
	wm = metrics.New()
	stop = runSpine(b, dbURL, ropt, concurrency,
		engine.Config{Catalog: cat, Kinds: workers.Kinds()},
		worker.Config{Catalog: cat, Kinds: workers.Kinds(), Concurrency: concurrency, Metrics: wm}, true)
	return wm, stop
}

// runSpine runs an engine and one worker of the given configurations
// in-process, each on its own pool as if they were the `bindery server` and
// `bindery worker` processes, until the returned stop is called (also at
// cleanup). report: an error ending either is a benchmark error.
func runSpine(b *testing.B, dbURL string, ropt asynq.RedisConnOpt, concurrency int, ec engine.Config, wc worker.Config, report bool) (stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	open := func() *pgxpool.Pool {
		p, err := pgconn.Open(ctx, dbURL, false, int32(concurrency)+2)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	engPool, wrkPool := open(), open()
	eng, err := engine.New(jobs.NewStore(engPool), ropt, ec)
	if err != nil {
		b.Fatal(err)
	}
	wrk, err := worker.New(jobs.NewStore(wrkPool), ropt, wc)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := eng.Run(ctx); err != nil && report {
			b.Error("engine:", err)
		}
	})
	wg.Go(func() {
		if err := wrk.Run(ctx); err != nil && report {
			b.Error("worker:", err)
		}
	})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			_ = eng.Close()
			engPool.Close()
			wrkPool.Close()
		})
	}
	b.Cleanup(stop)
	return stop
}

// runJob submits a job as the API does and waits, on the engine's own
// notifications, for its terminal status. The duration is the database's
// ended_at − submitted_at: submit to terminal on the one clock every
// process agrees on, with no observation lag.
func runJob(b *testing.B, pool *pgxpool.Pool, cat *pkgconfig.Config, typ string, raw map[string]string) (*jobs.Job, time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	jt, _ := cat.JobType(typ)
	in, _ := cat.Institution(institution)
	params, err := jt.ResolveParams(in, raw)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN bindery`); err != nil {
		b.Fatal(err)
	}
	defer conn.Exec(context.Background(), `UNLISTEN *`) //nolint:errcheck
	store := jobs.NewStore(pool)
	job, err := store.Insert(ctx, jobs.NewJob{Institution: in.ID, Type: jt.ID, SubmittedBy: "bench", Params: params, PriorityClass: jt.PriorityClass}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for {
		var st jobs.Status
		if err := conn.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, job.ID).Scan(&st); err != nil {
			b.Fatal(err)
		}
		if st.Terminal() {
			break
		}
		// Wake on a job event (chunk events are frequent and say nothing
		// about the status); the 200 ms bound only covers a missed event.
		for {
			wctx, wcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			n, err := conn.Conn().WaitForNotification(wctx)
			wcancel()
			if ctx.Err() != nil {
				b.Fatalf("job %d (%s) not terminal after %s", job.ID, typ, jobTimeout)
			}
			if err != nil || n.Payload == "job" {
				break
			}
		}
	}
	job, err = store.Get(ctx, job.ID)
	if err != nil {
		b.Fatal(err)
	}
	if job.EndedAt == nil {
		b.Fatalf("job %d is %s without an end time", job.ID, job.Status)
	}
	return job, job.EndedAt.Sub(job.SubmittedAt)
}

// rawAsynq measures asynq alone on the same Redis with the worker's server
// settings: n chunk-shaped tasks (same type, payload size, TaskID scheme,
// queue and MaxRetry as the spine's) through a handler that returns nil.
//
// What "fair" means here: enqueue and processing overlap, and the clock runs
// from the first enqueue to the last handler's return. That is the spine's
// situation (its clock runs submit → terminal while the engine enqueues and
// the worker processes), minus everything Bindery adds. One goroutine
// enqueues, as the engine's single admission loop does. Enqueueing all first
// and timing only the processing would leave the enqueue cost off the raw
// clock while the spine pays it on its own, and flatter asynq; timing the two
// phases back to back would charge asynq for work it can overlap.
func rawAsynq(b *testing.B, ropt asynq.RedisConnOpt, cat *pkgconfig.Config, queueName string, concurrency, n int) time.Duration {
	b.Helper()
	var done atomic.Int64
	finished := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeChunk, func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	srv := asynq.NewServer(ropt, asynq.Config{
		Concurrency:       concurrency,
		Queues:            cat.Queues,
		TaskCheckInterval: 20 * time.Millisecond, // as pkg/worker sets it
		LogLevel:          asynq.WarnLevel,
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	client := asynq.NewClient(ropt)
	defer client.Close()
	start := time.Now()
	for i := range n {
		c := jobs.Chunk{JobID: 999999, Seq: i, Fence: 1, Lo: int64(i*noopChunkSize + 1), Hi: int64((i + 1) * noopChunkSize), Records: noopChunkSize}
		task, err := queue.NewChunkTask(c, noop.TypeID, queueName)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-finished:
	case <-time.After(jobTimeout):
		b.Fatalf("raw asynq: %d of %d tasks done after %s", done.Load(), n, jobTimeout)
	}
	return time.Since(start)
}

// breakdown prints where a chunk's time went: admitted → started (from the
// ledger) is the queue: enqueue, waiting behind other chunks, asynq's poll
// sleep and the handler's job lookup; the chunk transaction (the worker's
// own histogram) is Process plus the ledger commit.
func breakdown(b *testing.B, pool *pgxpool.Pool, jobID int64, wm *metrics.Metrics) {
	b.Helper()
	var p50, p90 float64
	err := pool.QueryRow(context.Background(), `SELECT
			percentile_cont(0.5) WITHIN GROUP (ORDER BY x), percentile_cont(0.9) WITHIN GROUP (ORDER BY x)
		FROM (SELECT extract(epoch FROM started_at - admitted_at) * 1000 x FROM chunks WHERE job_id = $1) q`, jobID).Scan(&p50, &p90)
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	var n uint64
	families, err := wm.Registry.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "bindery_chunk_duration_seconds" {
			for _, m := range f.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	fmt.Printf("  per chunk: admitted→started p50 %.1f ms, p90 %.1f ms | chunk transaction mean %.2f ms\n", p50, p90, 1000*sum/float64(max(n, 1)))
}

// meter counts what a stretch of work cost: PostgreSQL transactions
// (pg_stat_database) and the CPU of the database's client backends (from
// /proc, when PostgreSQL runs on this machine), Redis commands and CPU (INFO),
// and this process's CPU (engine, worker and asynq's Go side). CPU is
// counted per process, so other work on the machine does not blur it.
type meter struct {
	pool  *pgxpool.Pool
	redis *redis.Client

	at                    time.Time
	xacts, cmds           int64
	self, redisCPU, pgCPU time.Duration
	backends              map[int]time.Duration // at start
}

func newMeter(b *testing.B, pool *pgxpool.Pool, r *testenv.Redis) *meter {
	b.Helper()
	m := &meter{pool: pool, redis: redis.NewClient(&redis.Options{Addr: r.Addr, DB: r.DB})}
	b.Cleanup(func() { _ = m.redis.Close() })
	return m
}

// procCPU is a process's user+system time, or false if /proc cannot say.
func procCPU(pid int) (time.Duration, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the parenthesized command: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond, true // USER_HZ is 100 on Linux
}

// walLSN is the cluster's current WAL position: the difference of two is
// the WAL written in between, by everything on the cluster (a quiet
// machine's is the benchmark's). pg_stat_wal would count full-page images
// too, but backends report to it up to seconds late.
func (m *meter) walLSN(b *testing.B) string {
	b.Helper()
	var lsn string
	if err := m.pool.QueryRow(context.Background(), `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		b.Fatal(err)
	}
	return lsn
}

// walSince is the WAL written since lsn, in MB.
func (m *meter) walSince(b *testing.B, lsn string) float64 {
	b.Helper()
	var n float64
	if err := m.pool.QueryRow(context.Background(), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)`, lsn).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n / (1 << 20)
}

// backendCPU is the CPU of each client backend of the database.
func (m *meter) backendCPU(b *testing.B) map[int]time.Duration {
	b.Helper()
	rows, err := m.pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend'`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		if t, ok := procCPU(int(pid)); ok {
			out[int(pid)] = t
		}
	}
	return out
}

func (m *meter) counters(b *testing.B) (xacts, cmds int64, self, redisCPU time.Duration) {
	b.Helper()
	ctx := context.Background()
	if err := m.pool.QueryRow(ctx, `SELECT xact_commit + xact_rollback
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&xacts); err != nil {
		b.Fatal(err)
	}
	info, err := m.redis.Info(ctx, "stats", "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "total_commands_processed":
			cmds, _ = strconv.ParseInt(v, 10, 64)
		case "used_cpu_sys", "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			redisCPU += time.Duration(f * float64(time.Second))
		}
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return xacts, cmds, time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), redisCPU
}

// start begins a measurement.
func (m *meter) start(b *testing.B) {
	m.xacts, m.cmds, m.self, m.redisCPU = m.counters(b)
	m.backends = m.backendCPU(b)
	m.pgCPU = 0
	m.at = time.Now()
}

// sample reads the backends' CPU; call it before the spine's pools close.
func (m *meter) sample(b *testing.B) {
	for pid, t := range m.backendCPU(b) {
		m.pgCPU += t - m.backends[pid]
	}
}

// report prints the cost per unit of work since start; call it after the
// spine's pools closed (backends flush their statistics as they exit).
func (m *meter) report(b *testing.B, units int, unit string) {
	b.Helper()
	wall := time.Since(m.at)
	deadline := time.Now().Add(10 * time.Second)
	for len(m.backendCPU(b)) > int(m.pool.Stat().TotalConns()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // a deadline-bounded poll for the exits
	}
	xacts, cmds, self, redisCPU := m.counters(b)
	n := float64(units)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
	cpu := self - m.self + redisCPU - m.redisCPU + m.pgCPU
	fmt.Printf("  per %s: %.1f PostgreSQL transactions, %.1f Redis commands | CPU µs: Go %.0f, PostgreSQL %.0f, Redis %.0f (%.0f%% of %d CPUs over %.1fs)\n",
		unit, float64(xacts-m.xacts)/n, float64(cmds-m.cmds)/n,
		per(self-m.self), per(m.pgCPU), per(redisCPU-m.redisCPU),
		100*cpu.Seconds()/wall.Seconds()/float64(runtime.NumCPU()), runtime.NumCPU(), wall.Seconds())
}

// BenchmarkSpineNoop: chunks/s of the noop job through ledger, admission and
// worker, beside raw asynq no-op tasks/s in the same run.
func BenchmarkSpineNoop(b *testing.B) {
	records := envInt("BINDERY_BENCH_NOOP_RECORDS", 200000)
	concurrency := envInt("BINDERY_BENCH_CONCURRENCY", 4)
	cat := catalog(b)
	jt, _ := cat.JobType(noop.TypeID)
	jt.ChunkSize = noopChunkSize
	cat.Admission.Window = envInt("BINDERY_BENCH_WINDOW", cat.Admission.Window)
	db := testenv.NewDatabase(b)
	rdb := testenv.NewRedis(b)
	ropt := redisOpt(b, rdb)
	m := newMeter(b, db.Pool, rdb)

	for b.Loop() {
		chunks := (records + noopChunkSize - 1) / noopChunkSize
		// Raw asynq is short and noisy: the median of three runs.
		var raws []float64
		for i := range 3 {
			if i == 0 {
				m.start(b)
			}
			raws = append(raws, float64(chunks)/rawAsynq(b, ropt, cat, jt.PriorityClass, concurrency, chunks).Seconds())
			if i == 0 {
				m.report(b, chunks, "raw task")
			}
		}
		slices.Sort(raws)
		raw := raws[1]

		m.start(b)
		wm, stop := startSpine(b, db.URL, ropt, cat, concurrency)
		job, dur := runJob(b, db.Pool, cat, noop.TypeID, map[string]string{"records": strconv.Itoa(records)})
		m.sample(b)
		stop()
		m.report(b, chunks, "chunk")
		if job.Status != jobs.CompletedSuccess || job.TotalChunks != chunks || job.Counters["records"] != int64(records) {
			b.Fatalf("noop job ended %s with %d chunks, counters %v; want %s, %d chunks, %d records",
				job.Status, job.TotalChunks, job.Counters, jobs.CompletedSuccess, chunks, records)
		}
		spine := float64(chunks) / dur.Seconds()
		fmt.Printf("  job phases: %s\n", phases(job))
		breakdown(b, db.Pool, job.ID, wm)

		b.ReportMetric(spine, "chunks/s")
		b.ReportMetric(raw, "raw-tasks/s")
		b.ReportMetric(spine/raw, "ratio")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("spine noop: %.0f chunks/s (%d chunks of %d in %.2fs, W=%d, concurrency %d) | raw asynq: %.0f tasks/s | ratio %.2f\n",
			spine, chunks, noopChunkSize, dur.Seconds(), cat.Admission.Window, concurrency, raw, spine/raw)
	}
}

// phases is how long a job spent in each status, from its events.
func phases(job *jobs.Job) string {
	var out []string
	for i := 0; i+1 < len(job.Events); i++ {
		out = append(out, fmt.Sprintf("%s %.2fs", job.Events[i].Status, job.Events[i+1].At.Sub(job.Events[i].At).Seconds()))
	}
	return strings.Join(out, ", ")
}

// BenchmarkLoanAnonymization: loans/s of a Loan Anonymization job over a
// million seeded loans, submit to terminal, beside the single-statement
// UPDATE of a fresh copy of the same loans (the physical limit) and the
// reference platform's closest published figure.
func BenchmarkLoanAnonymization(b *testing.B) {
	loans := envInt("BINDERY_BENCH_LOANS", 1000000)
	concurrency := envInt("BINDERY_BENCH_CONCURRENCY", 4)
	cat := catalog(b)
	in, _ := cat.Institution(institution)
	jt, _ := cat.JobType(loananon.TypeID)
	cat.Admission.Window = envInt("BINDERY_BENCH_WINDOW", cat.Admission.Window)
	db := testenv.NewDatabase(b)
	rdb := testenv.NewRedis(b)
	ropt := redisOpt(b, rdb)
	m := newMeter(b, db.Pool, rdb)
	ctx := context.Background()

	for b.Loop() {
		t0 := time.Now()
		counts, err := seed.Demo(ctx, db.Pool, institution, int64(loans), true)
		if err != nil {
			b.Fatal(err)
		}
		seeded := time.Since(t0)
		// The limit runs on a fresh copy with the same shape (columns,
		// defaults, the partial index the job's population uses), so the
		// job's own table is untouched when it starts.
		for _, q := range []string{
			`DROP TABLE IF EXISTS loans_limit`,
			`CREATE TABLE loans_limit (LIKE loans INCLUDING ALL)`,
			`INSERT INTO loans_limit SELECT * FROM loans ORDER BY id`,
			`VACUUM ANALYZE loans`, `VACUUM ANALYZE loans_limit`, `VACUUM ANALYZE users`,
			`CHECKPOINT`,
		} {
			if _, err := db.Pool.Exec(ctx, q); err != nil {
				b.Fatalf("%s: %v", q, err)
			}
		}
		// Same predicate and effect as the job (workers/loananon), in one
		// statement: linked loans of the institution returned before the cutoff.
		cutoff := time.Now().AddDate(0, 0, -in.LoanRetentionDays)
		prepared := time.Since(t0) - seeded
		t0 = time.Now()
		tag, err := db.Pool.Exec(ctx, `UPDATE loans_limit l SET user_id = NULL, anonymized_at = now(),
				stat_category = CASE WHEN l.stat_category = '' THEN u.stat_category ELSE l.stat_category END
			FROM users u WHERE u.id = l.user_id AND l.institution = $1 AND l.user_id IS NOT NULL AND l.return_date < $2`,
			institution, cutoff)
		limitDur := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
			b.Fatal(err)
		}
		limit := float64(loans) / limitDur.Seconds()

		m.start(b)
		wm, stop := startSpine(b, db.URL, ropt, cat, concurrency)
		job, dur := runJob(b, db.Pool, cat, loananon.TypeID, nil)
		m.sample(b)
		stop()
		fmt.Printf("  setup: seed.Demo %.1fs, copy + vacuum + checkpoint %.1fs | job phases: %s\n",
			seeded.Seconds(), prepared.Seconds(), phases(job))
		m.report(b, job.TotalChunks, fmt.Sprintf("chunk of %d loans", jt.ChunkSize))
		breakdown(b, db.Pool, job.ID, wm)
		if job.Status != jobs.CompletedSuccess || job.Counters[loananon.Examined] != int64(loans) ||
			job.Counters[loananon.Anonymized] != tag.RowsAffected() || tag.RowsAffected() != counts.ReturnedLongAgo {
			b.Fatalf("loan job ended %s with counters %v; want %s, %d examined, %d anonymized (limit UPDATE: %d)",
				job.Status, job.Counters, jobs.CompletedSuccess, loans, counts.ReturnedLongAgo, tag.RowsAffected())
		}
		rate := float64(loans) / dur.Seconds()
		ref := referenceImportPeak / 3600

		b.ReportMetric(rate, "loans/s")
		b.ReportMetric(limit, "limit-loans/s")
		b.ReportMetric(rate/limit, "ratio")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("loan anonymization: %.0f loans/s (%d loans in %.1fs, %d chunks, concurrency %d) | single UPDATE limit: %.0f loans/s (%.1fs) | ratio %.2f | reference (import, peak): %.1f records/s\n",
			rate, loans, dur.Seconds(), job.TotalChunks, concurrency, limit, limitDur.Seconds(), rate/limit, ref)
	}
}
