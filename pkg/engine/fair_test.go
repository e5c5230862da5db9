package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
)

// liveClock is an injected clock tests move by hand.
type liveClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *liveClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *liveClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// cluster runs the engine loop and workers in-process, as the server and
// worker processes would, on real PostgreSQL and Redis.
type cluster struct {
	t     *testing.T
	db    *testenv.Database
	opt   asynq.RedisConnOpt
	rdb   *redis.Client
	cat   *config.Config
	store *jobs.Store
	waker *queue.Waker
}

func newCluster(t *testing.T, tune func(*config.Config)) *cluster {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	if tune != nil {
		tune(cat)
	}
	db := testenv.NewDatabase(t)
	rd := testenv.NewRedis(t)
	opt, err := queue.RedisOpt(rd.URL)
	require.NoError(t, err)
	ropt, err := redis.ParseURL(rd.URL)
	require.NoError(t, err)
	c := &cluster{t: t, db: db, opt: opt, rdb: redis.NewClient(ropt), cat: cat, store: jobs.NewStore(db.Pool), waker: queue.NewWaker(opt)}
	t.Cleanup(func() { _ = c.rdb.Close(); _ = c.waker.Close() })
	return c
}

func (c *cluster) pool(size int32) *pgxpool.Pool {
	c.t.Helper()
	cfg, err := pgxpool.ParseConfig(c.db.URL)
	require.NoError(c.t, err)
	cfg.MaxConns = size
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(c.t, err)
	return p
}

// run starts the engine with cfg and workers of the given concurrencies;
// they stop at cleanup (or when the returned stop is called).
func (c *cluster) run(cfg engine.Config, concurrency ...int) (stop func()) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var pools []*pgxpool.Pool
	cfg.Catalog, cfg.Kinds = c.cat, workers.Kinds()
	engPool := c.pool(8)
	pools = append(pools, engPool)
	eng, err := engine.New(jobs.NewStore(engPool), c.opt, cfg)
	require.NoError(c.t, err)
	wg.Go(func() { _ = eng.Run(ctx) })
	for i, n := range concurrency {
		p := c.pool(int32(n) + 2)
		pools = append(pools, p)
		w, err := worker.New(jobs.NewStore(p), c.opt, worker.Config{Catalog: c.cat, Kinds: workers.Kinds(),
			Concurrency: n, ID: fmt.Sprintf("w%d", i+1), ShutdownTimeout: time.Second})
		require.NoError(c.t, err)
		wg.Go(func() { _ = w.Run(ctx) })
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			_ = eng.Close()
			for _, p := range pools {
				p.Close()
			}
		})
	}
	c.t.Cleanup(stop)
	return stop
}

// submit inserts a job as the API does (class of the type unless given)
// and wakes the engine.
func (c *cluster) submit(institution, jobType, class string, raw map[string]string) int64 {
	c.t.Helper()
	jt, _ := c.cat.JobType(jobType)
	in, _ := c.cat.Institution(institution)
	params, err := jt.ResolveParams(in, raw)
	require.NoError(c.t, err)
	if class == "" {
		class = jt.PriorityClass
	}
	j, err := c.store.Insert(context.Background(), jobs.NewJob{Institution: institution, Type: jobType, SubmittedBy: "t", Params: params, PriorityClass: class}, nil)
	require.NoError(c.t, err)
	c.waker.Wake(context.Background())
	return j.ID
}

func (c *cluster) scalar(sql string, args ...any) float64 {
	c.t.Helper()
	var v float64
	require.NoError(c.t, c.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&v))
	return v
}

func (c *cluster) doneByInstitution() map[string]int {
	c.t.Helper()
	rows, err := c.db.Pool.Query(context.Background(), `SELECT j.institution, count(*)::int FROM chunks c JOIN jobs j ON j.id = c.job_id
		WHERE c.status = 'done' GROUP BY 1`)
	require.NoError(c.t, err)
	out := map[string]int{}
	for rows.Next() {
		var in string
		var n int
		require.NoError(c.t, rows.Scan(&in, &n))
		out[in] = n
	}
	require.NoError(c.t, rows.Err())
	return out
}

// running is how many of a job's chunks a worker has started and not
// committed: its concurrency, from the system of record.
func (c *cluster) running(jobID int64) int {
	return int(c.scalar(`SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'queued' AND started_at IS NOT NULL`, jobID))
}

func (c *cluster) waitStatus(id int64, within time.Duration, ok func(jobs.Status) bool) jobs.Status {
	c.t.Helper()
	var st jobs.Status
	testenv.Eventually(c.t, within, fmt.Sprintf("job %d status", id), func() bool {
		j, err := c.store.Row(context.Background(), id)
		require.NoError(c.t, err)
		st = j.Status
		return ok(st)
	})
	return st
}

// jain is Jain's fairness index of xs: 1 when all are equal, 1/n at worst.
func jain(xs ...float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// Two institutions with weights 2:1 and endless work (one big job each)
// get chunk throughput 2:1 over several thousand chunks.
func TestFairSharesFollowWeights(t *testing.T) {
	c := newCluster(t, func(cat *config.Config) {
		jt, _ := cat.JobType("noop")
		jt.ChunkSize = 10 // shipped windows: 16 per job, 64 fleet-wide
	})
	a, _ := c.cat.Institution("DEMO")
	b, _ := c.cat.Institution("DEMO2")
	require.Equal(t, 2, a.PriorityWeight)
	require.Equal(t, 1, b.PriorityWeight)
	c.run(engine.Config{}, 4)
	ja := c.submit("DEMO", "noop", "", map[string]string{"records": "1000000"})
	jb := c.submit("DEMO2", "noop", "", map[string]string{"records": "1000000"})
	// Measure between two points where both are long under way.
	var from map[string]int
	testenv.Eventually(t, time.Minute, "warm-up", func() bool {
		from = c.doneByInstitution()
		return from["DEMO"]+from["DEMO2"] >= 300
	})
	var to map[string]int
	testenv.Eventually(t, 3*time.Minute, "3000 more chunks", func() bool {
		to = c.doneByInstitution()
		return to["DEMO"]+to["DEMO2"]-from["DEMO"]-from["DEMO2"] >= 3000
	})
	na, nb := to["DEMO"]-from["DEMO"], to["DEMO2"]-from["DEMO2"]
	ratio := float64(na) / float64(nb)
	j := jain(float64(na)/2, float64(nb)/1)
	t.Logf("weights 2:1 -> chunks %d:%d = %.3f:1; Jain's index of weighted shares %.4f", na, nb, ratio, j)
	fmt.Printf("fairness: weights 2:1 -> chunks %d:%d = %.3f:1, Jain's index of weighted shares %.4f\n", na, nb, ratio, j)
	require.InDelta(t, 2.0, ratio, 0.2, "within 10%% of 2:1")
	require.Greater(t, j, 0.99)
	for _, id := range []int64{ja, jb} {
		c.abortIfRunning(id)
	}
}

// timing is one small job's submit-to-first-chunk and submit-to-end times.
type timing struct{ start, total time.Duration }

func (c *cluster) smallJob() timing {
	c.t.Helper()
	id := c.submit("DEMO", "noop", "", map[string]string{"records": "1000", "record_delay_ms": "1"})
	c.waitStatus(id, time.Minute, jobs.Status.Terminal)
	var tm timing
	var start, total float64
	require.NoError(c.t, c.db.Pool.QueryRow(context.Background(), `SELECT
			extract(epoch FROM (SELECT min(started_at) FROM chunks WHERE job_id = $1) - submitted_at),
			extract(epoch FROM ended_at - submitted_at)
		FROM jobs WHERE id = $1 AND status = 'COMPLETED_SUCCESS'`, id).Scan(&start, &total))
	tm.start = time.Duration(start * float64(time.Second))
	tm.total = time.Duration(total * float64(time.Second))
	return tm
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(math.Ceil(p*float64(len(s))))-1]
}

// A 1,000-record job submitted while a 1,000,000-record job of the same
// institution runs starts at once and finishes in about its time alone.
func TestSmallJobBesideMillionRecordJob(t *testing.T) {
	c := newCluster(t, nil)
	c.run(engine.Config{}, 4)
	// 100-record chunks of 100 ms: the big job would take about 7 hours.
	var alone []timing
	for range 5 {
		alone = append(alone, c.smallJob())
	}
	big := c.submit("DEMO", "noop", "", map[string]string{"records": "1000000", "record_delay_ms": "1"})
	testenv.Eventually(t, 30*time.Second, "big job under way", func() bool {
		return c.scalar(`SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'done'`, big) >= 40
	})
	var starts, totals, aloneTotals []time.Duration
	for range 20 {
		tm := c.smallJob()
		starts = append(starts, tm.start)
		totals = append(totals, tm.total)
	}
	for _, tm := range alone {
		aloneTotals = append(aloneTotals, tm.total)
	}
	bj, err := c.store.Row(context.Background(), big)
	require.NoError(t, err)
	require.Equal(t, jobs.Running, bj.Status, "the big job ran throughout")
	p50, p99 := percentile(starts, 0.5), percentile(starts, 0.99)
	msg := fmt.Sprintf("small job beside a 1M-record job: start p50 %s p99 %s; finish median %s beside vs %s alone (ratio %.2f)",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), percentile(totals, 0.5).Round(time.Millisecond),
		percentile(aloneTotals, 0.5).Round(time.Millisecond), percentile(totals, 0.5).Seconds()/percentile(aloneTotals, 0.5).Seconds())
	t.Log(msg)
	fmt.Println(msg)
	require.Less(t, p99, 2*time.Second, "p99 start over 20 tries")
	c.abortIfRunning(big)
}

// During its peak window an institution's bulk job never runs more chunks
// at once than its cap, including the chunks admitted before the peak began
// (the workers' Redis semaphore holds them back), and it speeds up when the
// window ends.
func TestPeakCapHoldsAndLifts(t *testing.T) {
	c := newCluster(t, func(cat *config.Config) {
		in, _ := cat.Institution("DEMO")
		in.Peak.Windows = []string{"Mon-Fri 08:00-18:00"}
		in.Peak.BulkShare = 0.25 // of 8 slots: 2
		cat.Admission.Window = 32
		cat.Admission.FleetWindow = 32
	})
	reparse(t, c.cat)
	ny, _ := time.LoadLocation("America/New_York")
	clk := &liveClock{t: time.Date(2026, 11, 25, 7, 59, 0, 0, ny)} // Wednesday, before the peak
	c.run(engine.Config{Clock: clk.Now}, 8)
	sem := fair.NewSemaphore(c.rdb, c.cat.Admission.CapLease)
	id := c.submit("DEMO", "noop", config.ClassBulk, map[string]string{"records": "200000", "record_delay_ms": "1"})

	// rate samples done chunks over d, and the largest concurrency seen.
	phase := func(d time.Duration) (perSec float64, maxRunning, maxHeld int) {
		done0 := c.scalar(`SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'done'`, id)
		start := time.Now()
		for time.Since(start) < d {
			maxRunning = max(maxRunning, c.running(id))
			h, err := sem.Holders(context.Background(), "DEMO")
			require.NoError(t, err)
			maxHeld = max(maxHeld, h)
			time.Sleep(20 * time.Millisecond)
		}
		done := c.scalar(`SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'done'`, id) - done0
		return done / time.Since(start).Seconds(), maxRunning, maxHeld
	}
	testenv.Eventually(t, 30*time.Second, "bulk job running wide off-peak", func() bool { return c.running(id) >= 6 })
	offRate, offMax, _ := phase(2 * time.Second)

	clk.Set(time.Date(2026, 11, 25, 8, 0, 0, 0, ny))
	// The chunks already running when the peak began finish (100 ms each);
	// from then on, never more than the cap.
	time.Sleep(400 * time.Millisecond)
	peakRate, peakMax, peakHeld := phase(4 * time.Second)
	capacity := readCapacity(t, c.rdb)

	clk.Set(time.Date(2026, 11, 25, 18, 0, 0, 0, ny))
	testenv.Eventually(t, 10*time.Second, "cap lifted", func() bool { return c.running(id) > 2 })
	afterRate, afterMax, _ := phase(2 * time.Second)

	msg := fmt.Sprintf("peak cap 2 of 8 slots: off-peak %.1f chunks/s (max %d running) | peak %.1f chunks/s (max %d running, %d slots held) | after peak %.1f chunks/s (max %d running)",
		offRate, offMax, peakRate, peakMax, peakHeld, afterRate, afterMax)
	t.Log(msg)
	fmt.Println(msg)
	require.LessOrEqual(t, peakMax, 2, "bulk concurrency during peak")
	require.LessOrEqual(t, peakHeld, 2, "cap slots held during peak")
	require.Equal(t, 2, peakMax, "the cap's slots are used")
	require.Greater(t, afterRate, 2*peakRate, "faster once the peak ends")
	var demo fair.InstitutionCapacity
	for _, ic := range capacity.Institutions {
		if ic.Institution == "DEMO" {
			demo = ic
		}
	}
	require.True(t, demo.InPeak)
	require.Equal(t, 2, demo.BulkCap)
	require.Equal(t, 8, capacity.FleetSlots)
	c.abortIfRunning(id)
}

// abortIfRunning ends a test's job that may have ended by itself (a noop
// job of a million records can finish before the test is over).
func (c *cluster) abortIfRunning(id int64) {
	c.t.Helper()
	err := c.store.Transition(context.Background(), c.store.Pool, id, jobs.UserAborted, "test over")
	if err == nil {
		return
	}
	job, gerr := c.store.Get(context.Background(), id)
	require.NoError(c.t, gerr)
	require.True(c.t, job.Status.Terminal(), "abort job %d: %v", id, err)
}

// reparse validates a catalog changed in place (peak windows are parsed at
// validation).
func reparse(t *testing.T, cat *config.Config) {
	t.Helper()
	require.NoError(t, cat.Revalidate())
}

func readCapacity(t *testing.T, rdb *redis.Client) *fair.Capacity {
	t.Helper()
	var rep fair.Capacity
	raw, err := rdb.Get(context.Background(), fair.CapacityKey).Bytes()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &rep))
	return &rep
}

// While PostgreSQL answers slowly the bulk class is admitted at a falling
// rate (the reason says why), and once it is fast again the rate climbs
// back to unlimited. The probe is the real one, made slow inside
// PostgreSQL with pg_sleep.
func TestLoadAwareBulkAdmission(t *testing.T) {
	c := newCluster(t, func(cat *config.Config) {
		cat.Admission.Load = config.LoadControl{Threshold: 50 * time.Millisecond, Interval: 250 * time.Millisecond,
			Increase: 20, Decrease: 0.5, MinRate: 2}
	})
	var slow atomic.Bool
	probe := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		sql := `SELECT 1`
		if slow.Load() {
			sql = `SELECT pg_sleep(0.08)`
		}
		_, err := c.db.Pool.Exec(ctx, sql)
		return time.Since(start), err
	}
	c.run(engine.Config{Probe: probe}, 4)
	id := c.submit("DEMO", "noop", config.ClassBulk, map[string]string{"records": "1000000"})
	admitted := func() float64 {
		return c.scalar(`SELECT count(*) FROM chunks WHERE job_id = $1 AND status <> 'pending'`, id)
	}
	testenv.Eventually(t, 30*time.Second, "bulk job running", func() bool { return admitted() > 200 })
	t0, a0 := time.Now(), admitted()
	time.Sleep(time.Second)
	fastRate := (admitted() - a0) / time.Since(t0).Seconds()

	slow.Store(true)
	var st fair.LoadState
	testenv.Eventually(t, 20*time.Second, "bulk rate cut to its floor", func() bool {
		st = readCapacity(t, c.rdb).Bulk
		return st.Limited && st.Rate <= 10
	})
	require.Contains(t, st.Reason, "above 50ms")
	t1, a1 := time.Now(), admitted()
	time.Sleep(2 * time.Second)
	slowRate := (admitted() - a1) / time.Since(t1).Seconds()

	slow.Store(false)
	testenv.Eventually(t, 60*time.Second, "bulk rate back to unlimited", func() bool {
		st = readCapacity(t, c.rdb).Bulk
		return !st.Limited
	})
	msg := fmt.Sprintf("load-aware bulk admission: %.0f chunks/s with PostgreSQL fast, %.1f chunks/s while its probe p95 was above 50ms; back to unlimited (%s)", fastRate, slowRate, st.Reason)
	t.Log(msg)
	fmt.Println(msg)
	require.Less(t, slowRate, 15.0, "admitted at the cut rate (<= 10/s plus one second's burst)")
	require.Greater(t, fastRate, 10*slowRate)
	c.abortIfRunning(id)
}
