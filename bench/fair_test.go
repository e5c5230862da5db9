package bench_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	pkgconfig "github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
	"github.com/bindery/bindery/workers/noop"
)

// fairRig runs an engine (fair or plain FIFO admission) and one worker
// in-process, each on its own pool, until stop.
type fairRig struct {
	b     *testing.B
	pool  *pgxpool.Pool
	store *jobs.Store
	cat   *pkgconfig.Config
	waker *queue.Waker
}

// startEngine runs a fair (or plain FIFO) engine and one worker in-process
// (see runSpine); errors ending them are not reported, as runs end with
// work in flight.
func startEngine(b *testing.B, dbURL string, ropt asynq.RedisConnOpt, cat *pkgconfig.Config, concurrency int, fifo bool) (stop func()) {
	b.Helper()
	return runSpine(b, dbURL, ropt, concurrency,
		engine.Config{Catalog: cat, Kinds: workers.Kinds(), FIFO: fifo},
		worker.Config{Catalog: cat, Kinds: workers.Kinds(), Concurrency: concurrency, ShutdownTimeout: time.Second}, false)
}

func (r *fairRig) submit(institution string, raw map[string]string) int64 {
	r.b.Helper()
	jt, _ := r.cat.JobType(noop.TypeID)
	in, _ := r.cat.Institution(institution)
	params, err := jt.ResolveParams(in, raw)
	if err != nil {
		r.b.Fatal(err)
	}
	j, err := r.store.Insert(context.Background(), jobs.NewJob{Institution: institution, Type: jt.ID, SubmittedBy: "bench", Params: params, PriorityClass: jt.PriorityClass}, nil)
	if err != nil {
		r.b.Fatal(err)
	}
	r.waker.Wake(context.Background())
	return j.ID
}

func (r *fairRig) wait(ids ...int64) {
	r.b.Helper()
	deadline := time.Now().Add(jobTimeout)
	for _, id := range ids {
		for {
			j, err := r.store.Row(context.Background(), id)
			if err != nil {
				r.b.Fatal(err)
			}
			if j.Status.Terminal() {
				if j.Status != jobs.CompletedSuccess {
					r.b.Fatalf("job %d ended %s: %s", id, j.Status, j.Message)
				}
				break
			}
			if time.Now().After(deadline) {
				r.b.Fatalf("job %d not finished after %s", id, jobTimeout)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (r *fairRig) abort(id int64) {
	if err := r.store.Transition(context.Background(), r.pool, id, jobs.UserAborted, "bench over"); err != nil {
		r.b.Fatal(err)
	}
}

func (r *fairRig) done() map[string]float64 {
	r.b.Helper()
	rows, err := r.pool.Query(context.Background(), `SELECT j.institution, count(*)::float8 FROM chunks c JOIN jobs j ON j.id = c.job_id
		WHERE c.status = 'done' AND j.status = 'RUNNING' GROUP BY 1`)
	if err != nil {
		r.b.Fatal(err)
	}
	out := map[string]float64{}
	for rows.Next() {
		var in string
		var n float64
		if err := rows.Scan(&in, &n); err != nil {
			r.b.Fatal(err)
		}
		out[in] = n
	}
	return out
}

func pctl(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Ceil(p*float64(len(s))))-1]
}

// BenchmarkFairAdmission: the fairness index of two institutions weighted
// 2:1 with endless work; the start latency of a small job beside a
// million-record job of its institution; and the throughput of fair
// admission beside plain FIFO admission (every job topped up to its window,
// no fleet window) on the same mixed workload, alternated in the same run.
//
//	BINDERY_BENCH_FAIR_CHUNKS  chunks measured for the fairness index (4000)
//	BINDERY_BENCH_MIX_RECORDS  records per job of the 4-job throughput mix (50000; chunks of 50)
//	BINDERY_BENCH_FLEET_WINDOW fleet_window (the catalog's)
//	BINDERY_BENCH_MIX_PAIRS    fair/FIFO run pairs of the throughput mix (5)
func BenchmarkFairAdmission(b *testing.B) {
	concurrency := envInt("BINDERY_BENCH_CONCURRENCY", 4)
	fairChunks := envInt("BINDERY_BENCH_FAIR_CHUNKS", 4000)
	mixRecords := envInt("BINDERY_BENCH_MIX_RECORDS", 50000)
	cat := catalog(b)
	jt, _ := cat.JobType(noop.TypeID)
	db := testenv.NewDatabase(b)
	rdb := testenv.NewRedis(b)
	ropt := redisOpt(b, rdb)
	waker := queue.NewWaker(ropt)
	defer waker.Close()
	r := &fairRig{b: b, pool: db.Pool, store: jobs.NewStore(db.Pool), cat: cat, waker: waker}
	a, _ := cat.Institution("DEMO")
	z, _ := cat.Institution("DEMO2")

	for b.Loop() {
		// 1. Fairness: one endless job per institution, chunks of 10,
		// shipped windows.
		jt.ChunkSize = 10
		stop := startEngine(b, db.URL, ropt, cat, concurrency, false)
		ja := r.submit(a.ID, map[string]string{"records": "10000000"})
		jz := r.submit(z.ID, map[string]string{"records": "10000000"})
		var from, to map[string]float64
		for from = r.done(); from[a.ID]+from[z.ID] < 300; from = r.done() {
			time.Sleep(20 * time.Millisecond)
		}
		for to = r.done(); to[a.ID]+to[z.ID]-from[a.ID]-from[z.ID] < float64(fairChunks); to = r.done() {
			time.Sleep(20 * time.Millisecond)
		}
		na, nz := to[a.ID]-from[a.ID], to[z.ID]-from[z.ID]
		xa, xz := na/float64(a.PriorityWeight), nz/float64(z.PriorityWeight)
		jainIdx := (xa + xz) * (xa + xz) / (2 * (xa*xa + xz*xz))
		r.abort(ja)
		r.abort(jz)
		stop()
		fmt.Printf("fairness index (weights %d and %d): %.4f Jain, chunk ratio %.3f over %.0f chunks | ideal 1.0000 Jain, ratio %.3f\n",
			a.PriorityWeight, z.PriorityWeight, jainIdx, na/nz, na+nz, float64(a.PriorityWeight)/float64(z.PriorityWeight))

		// 2. Small-job start latency beside a million-record job (chunks
		// of 100 records at 1 ms each), shipped windows.
		c2 := catalog(b)
		r.cat = c2
		stop = startEngine(b, db.URL, ropt, c2, concurrency, false)
		small := func() (start, total time.Duration) {
			id := r.submit(a.ID, map[string]string{"records": "1000", "record_delay_ms": "1"})
			r.wait(id)
			var s, t float64
			if err := db.Pool.QueryRow(context.Background(), `SELECT
					extract(epoch FROM (SELECT min(started_at) FROM chunks WHERE job_id = $1) - submitted_at),
					extract(epoch FROM ended_at - submitted_at) FROM jobs WHERE id = $1`, id).Scan(&s, &t); err != nil {
				b.Fatal(err)
			}
			return time.Duration(s * float64(time.Second)), time.Duration(t * float64(time.Second))
		}
		var alone, starts, totals []time.Duration
		for range 5 {
			_, t := small()
			alone = append(alone, t)
		}
		big := r.submit(a.ID, map[string]string{"records": "1000000", "record_delay_ms": "1"})
		time.Sleep(2 * time.Second)
		for range 20 {
			s, t := small()
			starts = append(starts, s)
			totals = append(totals, t)
		}
		r.abort(big)
		stop()
		fmt.Printf("small job start under load: p50 %.2fs p99 %.2fs (finish %.2fs beside a 1M-record job, %.2fs alone) | limit p99 2s\n",
			pctl(starts, 0.5).Seconds(), pctl(starts, 0.99).Seconds(), pctl(totals, 0.5).Seconds(), pctl(alone, 0.5).Seconds())

		// 3. Throughput: 2 institutions x 2 noop jobs (chunks of 50), fair
		// and FIFO admission in back-to-back pairs (which goes first
		// alternates); the figure is the median of the pairs' ratios, so
		// the shared machine's drifting load cancels within each pair.
		c3 := catalog(b)
		c3.Admission.FleetWindow = envInt("BINDERY_BENCH_FLEET_WINDOW", c3.Admission.FleetWindow)
		jt3, _ := c3.JobType(noop.TypeID)
		jt3.ChunkSize = noopChunkSize
		r.cat = c3
		chunks := 4 * ((mixRecords + noopChunkSize - 1) / noopChunkSize)
		run := func(fifo bool) float64 {
			stop := startEngine(b, db.URL, ropt, c3, concurrency, fifo)
			defer stop()
			begin := time.Now()
			var ids []int64
			for _, in := range []string{a.ID, z.ID, a.ID, z.ID} {
				ids = append(ids, r.submit(in, map[string]string{"records": fmt.Sprint(mixRecords)}))
			}
			r.wait(ids...)
			return float64(chunks) / time.Since(begin).Seconds()
		}
		var fairRates, fifoRates, ratios []float64
		for i := range envInt("BINDERY_BENCH_MIX_PAIRS", 5) {
			var fa, fi float64
			if i%2 == 0 {
				fi, fa = run(true), run(false)
			} else {
				fa, fi = run(false), run(true)
			}
			fairRates, fifoRates, ratios = append(fairRates, fa), append(fifoRates, fi), append(ratios, fa/fi)
		}
		median := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
		ratio := median(ratios)
		b.ReportMetric(jainIdx, "jain")
		b.ReportMetric(ratio, "fair/fifo")
		b.ReportMetric(0, "ns/op")
		fmt.Printf("fair admission: %.0f chunks/s (4 jobs, 2 institutions, %d chunks, W=%d, fleet %d; runs %.0f) | plain FIFO admission: %.0f chunks/s (runs %.0f) in the same run | ratio %.3f, median of pairs %.2f (goal >= 0.95)\n",
			median(fairRates), chunks, c3.Admission.Window, c3.Admission.FleetWindow, fairRates, median(fifoRates), fifoRates, ratio, ratios)
		r.cat = cat
	}
}
