package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
)

// fairState is the admission controller's memory: the stride scheduler,
// load-aware bulk admission, and what it last told Redis of peak caps.
type fairState struct {
	sched *fair.Scheduler
	load  *fair.Load
	sem   *fair.Semaphore
	rdb   redis.UniversalClient

	caps      map[string]int   // cap last published per institution (-1 none)
	admitted  map[string]int64 // chunks admitted per institution since start
	lastProbe time.Time
	published time.Time

	// The fleet's chunk rate (admissions/s, smoothed), which sizes the
	// pipeline: see pipeline.
	total     int64
	rateFrom  time.Time
	rateTotal int64
	rate      float64
	rateKnown bool
	window    int // the effective fleet window last used
}

// pipelineAhead is how much work the admission keeps queued beyond the
// fleet's slots, in time at the current chunk rate: enough to cover an
// engine round trip, no more, because every chunk queued is one a newly
// submitted job's first chunk waits behind.
const pipelineAhead = 200 * time.Millisecond

// pipeline is the effective fleet window: twice the live slots plus
// pipelineAhead's worth of chunks at the current rate, within
// [4, fleet_window]. Fast chunks (thousands/s) get the whole configured
// window; slow ones (a few per second per slot) a shallow queue, so a new
// job starts within a chunk's time or two.
func (f *fairState) pipeline(slots, fleet int) int {
	now := time.Now()
	switch dt := now.Sub(f.rateFrom); {
	case f.rateFrom.IsZero():
		f.rateFrom, f.rateTotal = now, f.total
	case dt >= 500*time.Millisecond:
		r := float64(f.total-f.rateTotal) / dt.Seconds()
		if f.rateKnown {
			r = 0.5*f.rate + 0.5*r
		}
		f.rate, f.rateKnown = r, true
		f.rateFrom, f.rateTotal = now, f.total
	}
	if !f.rateKnown {
		// Until a rate is measured, assume fast chunks: the whole window.
		f.window = fleet
		return fleet
	}
	w := 2*slots + int(f.rate*pipelineAhead.Seconds()+0.999)
	f.window = min(fleet, max(4, w))
	return f.window
}

// publishEvery is how often the leader refreshes the capacity report and
// the peak-cap limits in Redis (which expire after capTTL without it).
const (
	publishEvery = time.Second
	capTTL       = 15 * time.Second
)

func newFairState(e *Engine) *fairState {
	rdb := e.rdb // the engine's one go-redis client (also the guard's)
	sched := fair.NewScheduler()
	// A new job's first window of chunks goes ahead of its institution's
	// running jobs: a small job finishes in about its time alone.
	sched.HeadStart = e.cfg.Catalog.Admission.Window
	return &fairState{
		sched:    sched,
		load:     fair.NewLoad(e.cfg.Catalog.Admission.Load, time.Now),
		sem:      fair.NewSemaphore(rdb, e.cfg.Catalog.Admission.CapLease),
		rdb:      rdb,
		caps:     map[string]int{},
		admitted: map[string]int64{},
	}
}

func (e *Engine) snapshot(ctx context.Context) (*jobs.Snapshot, error) {
	return e.store.Snapshot(ctx, e.cfg.WorkerDeadAfter)
}

// bulkCap is the most bulk chunks an institution in peak may run at once:
// its bulk share of the live fleet's slots, at least one.
func bulkCap(in *config.Institution, fleetSlots int) int {
	return max(1, int(in.Peak.BulkShare*float64(fleetSlots)))
}

// admitFair decides which chunks go to the queue next. The fleet keeps at
// most fleet_window chunks in flight (fewer while chunks are slow: see
// pipeline), and each job at most window (or its share: jobLimits); the free
// places go, chunk by chunk, to institutions by stride scheduling on their
// weights and, within one, to its jobs by their class weights. A bulk job of
// an institution in peak is held to the institution's cap, and every bulk
// job to the load-aware rate. Chunks are enqueued in the order chosen, so
// the queue interleaves institutions and jobs as the shares say.
//
// Admission waits until a refill is worth a round trip (half a window of
// chunks) unless a job has nothing in flight: a new job's first chunks go
// at once.
func (e *Engine) admitFair(ctx context.Context, snap *jobs.Snapshot, running []jobs.ActiveJob) error {
	f := e.fair
	cat := e.cfg.Catalog
	window := cat.Admission.Window
	fleet := f.pipeline(snap.FleetSlots, cat.Admission.FleetWindow)
	if err := e.publishCaps(ctx, snap); err != nil {
		e.log.Warn("peak caps not published", "err", err)
	}
	e.probe(ctx)

	inflight := 0
	bulkInflight := map[string]int{}
	for _, j := range running {
		inflight += j.Queued
		if j.PriorityClass == config.ClassBulk {
			bulkInflight[j.Institution] += j.Queued
		}
	}
	fleetFree := fleet - inflight
	capFree := map[string]*int{}
	for inst, limit := range f.caps {
		if limit >= 0 {
			free := limit - bulkInflight[inst]
			capFree[inst] = &free
		}
	}
	bulkTokens := f.load.Allowance()

	limits := jobLimits(cat, running, window, fleet)
	cands := make([]fair.Candidate, 0, len(running))
	byID := make(map[int64]*jobs.ActiveJob, len(running))
	admittable, urgent := 0, false
	for i := range running {
		j := &running[i]
		if j.Pending == 0 {
			continue
		}
		byID[j.ID] = j
		free := max(0, min(limits[j.ID]-j.Queued, j.Pending))
		c := fair.Candidate{JobID: j.ID, Institution: j.Institution, InstWeight: instWeight(cat, j.Institution),
			JobWeight: cat.Queues[j.PriorityClass], Free: free}
		if j.PriorityClass == config.ClassBulk {
			c.Budgets = append(c.Budgets, &bulkTokens)
			if cf := capFree[j.Institution]; cf != nil {
				c.Budgets = append(c.Budgets, cf)
			}
		}
		if free > 0 {
			admittable += free
			urgent = urgent || j.Queued == 0
		}
		cands = append(cands, c)
	}
	// A refill is worth a round trip from half a window (the job's or the
	// fleet's, whichever is smaller).
	worth := (min(window, fleet) + 1) / 2
	if len(cands) == 0 || fleetFree <= 0 || (!urgent && min(admittable, fleetFree) < worth) {
		return nil
	}
	picks := f.sched.Plan(cands, fleetFree, fleet)
	if len(picks) == 0 {
		return nil
	}
	want := map[int64]int{}
	for _, id := range picks {
		want[id]++
	}
	reqs := make([]jobs.AdmitRequest, 0, len(want))
	for id, n := range want {
		reqs = append(reqs, jobs.AdmitRequest{JobID: id, N: n, Queue: byID[id].PriorityClass})
	}
	admitted, err := e.store.AdmitMany(ctx, reqs)
	if err != nil {
		return err
	}
	bulk := 0
	for _, id := range picks {
		cs := admitted[id]
		if len(cs) == 0 {
			continue // fewer pending than the snapshot said (another admission)
		}
		c := cs[0]
		admitted[id] = cs[1:]
		j := byID[id]
		if err := e.enqueue(ctx, c, j.Type, j.PriorityClass); err != nil {
			// The reconciler re-admits it (and the rest) once it sees the
			// tasks missing.
			e.log.Warn("enqueue failed", "job", j.ID, "chunk", c.Seq, "err", err)
			break
		}
		if j.PriorityClass == config.ClassBulk {
			bulk++
		}
		f.admitted[j.Institution]++
		f.total++
		e.cfg.Metrics.ChunksAdmitted.WithLabelValues(j.Institution, j.PriorityClass).Inc()
	}
	f.load.Admitted(bulk)
	return nil
}

func instWeight(cat *config.Config, id string) int {
	if in, ok := cat.Institution(id); ok {
		return in.PriorityWeight
	}
	return 1
}

// jobLimits is how many chunks each running job may have in flight: window,
// or, while several institutions have work, the job's weighted share of the
// fleet window if that is more; otherwise the window would hold an
// institution with one big job below its share (throughput follows the
// share of chunks in flight).
func jobLimits(cat *config.Config, running []jobs.ActiveJob, window, fleet int) map[int64]int {
	instW := map[string]int{}
	jobW := map[string]int{}
	for _, j := range running {
		if j.Pending+j.Queued == 0 {
			continue
		}
		instW[j.Institution] = instWeight(cat, j.Institution)
		jobW[j.Institution] += max(1, cat.Queues[j.PriorityClass])
	}
	total := 0
	for _, w := range instW {
		total += w
	}
	limits := make(map[int64]int, len(running))
	for _, j := range running {
		limits[j.ID] = window
		if len(instW) > 1 && jobW[j.Institution] > 0 {
			share := float64(fleet) * float64(instW[j.Institution]) / float64(total) *
				float64(max(1, cat.Queues[j.PriorityClass])) / float64(jobW[j.Institution])
			limits[j.ID] = max(window, int(share+0.999))
		}
	}
	return limits
}

// publishCaps tells the workers, through Redis, the bulk cap of every
// institution in its peak hours (and lifts it at once when a peak ends);
// every second it refreshes them and the capacity report.
func (e *Engine) publishCaps(ctx context.Context, snap *jobs.Snapshot) error {
	f := e.fair
	now := e.cfg.Clock()
	refresh := time.Since(f.published) >= publishEvery
	for i := range e.cfg.Catalog.Institutions {
		in := &e.cfg.Catalog.Institutions[i]
		limit := -1
		if in.InPeak(now) {
			limit = bulkCap(in, snap.FleetSlots)
		}
		prev, known := f.caps[in.ID]
		if known && prev == limit && !(refresh && limit >= 0) {
			continue
		}
		if err := f.sem.SetLimit(ctx, in.ID, limit, capTTL); err != nil {
			return err
		}
		if !known || prev != limit {
			e.log.Info("peak cap changed", "institution", in.ID, "bulk_cap", limit, "fleet_slots", snap.FleetSlots)
		}
		f.caps[in.ID] = limit
	}
	if refresh {
		f.published = time.Now()
		return e.publishCapacity(ctx, snap, now)
	}
	return nil
}

// probe times one PostgreSQL round trip, a few times per load interval.
func (e *Engine) probe(ctx context.Context) {
	f := e.fair
	every := e.cfg.Catalog.Admission.Load.Interval / 5
	if time.Since(f.lastProbe) < every {
		return
	}
	f.lastProbe = time.Now()
	var d time.Duration
	var err error
	if e.cfg.Probe != nil {
		d, err = e.cfg.Probe(ctx)
	} else {
		start := time.Now()
		_, err = e.store.Pool.Exec(ctx, `SELECT 1`)
		d = time.Since(start)
	}
	if err != nil {
		return // the step's own queries report a broken database
	}
	f.load.Observe(d)
}

// publishCapacity writes the capacity report to Redis (read by the API of
// any server) and sets the scheduling gauges.
func (e *Engine) publishCapacity(ctx context.Context, snap *jobs.Snapshot, now time.Time) error {
	f := e.fair
	m := e.cfg.Metrics
	cat := e.cfg.Catalog
	rep := fair.Capacity{At: now, FleetSlots: snap.FleetSlots, FleetWindow: cat.Admission.FleetWindow,
		Pipeline: f.window, ChunkRate: f.rate, Bulk: f.load.State()}
	type agg struct{ jobs, pending, inflight, running int }
	per := map[string]*agg{}
	classInflight := map[[2]string]int{}
	activeWeight := 0
	for _, j := range snap.ByStatus(jobs.Running) {
		a := per[j.Institution]
		if a == nil {
			a = &agg{}
			per[j.Institution] = a
			if in, ok := cat.Institution(j.Institution); ok {
				activeWeight += in.PriorityWeight
			}
		}
		a.jobs++
		a.pending += j.Pending
		a.inflight += j.Queued
		a.running += j.Running
		rep.InFlight += j.Queued
		classInflight[[2]string{j.Institution, j.PriorityClass}] += j.Queued
	}
	totalWeight := 0
	for _, in := range cat.Institutions {
		totalWeight += in.PriorityWeight
	}
	for i := range cat.Institutions {
		in := &cat.Institutions[i]
		a := per[in.ID]
		if a == nil {
			a = &agg{}
		}
		held, err := f.sem.Holders(ctx, in.ID)
		if err != nil {
			return err
		}
		ic := fair.InstitutionCapacity{Institution: in.ID, Weight: in.PriorityWeight,
			Share:       float64(in.PriorityWeight) / float64(totalWeight),
			RunningJobs: a.jobs, Pending: a.pending, InFlight: a.inflight, Running: a.running,
			TimeZone: in.TimeZone, LocalTime: now.In(in.Location).Format("Mon 15:04"),
			InPeak: f.caps[in.ID] >= 0, BulkCap: f.caps[in.ID], BulkHeld: held, Admitted: f.admitted[in.ID]}
		if a.jobs > 0 && activeWeight > 0 {
			ic.ActiveShare = float64(in.PriorityWeight) / float64(activeWeight)
		}
		rep.Institutions = append(rep.Institutions, ic)
		m.Weight.WithLabelValues(in.ID).Set(float64(in.PriorityWeight))
		m.InPeak.WithLabelValues(in.ID).Set(b2f(ic.InPeak))
		m.CapSlots.WithLabelValues(in.ID).Set(float64(ic.BulkCap))
		m.CapHeld.WithLabelValues(in.ID).Set(float64(held))
		util := 0.0
		if ic.BulkCap > 0 {
			util = float64(held) / float64(ic.BulkCap)
		}
		m.CapUtilisation.WithLabelValues(in.ID).Set(util)
		for q := range cat.Queues {
			m.InFlight.WithLabelValues(in.ID, q).Set(float64(classInflight[[2]string{in.ID, q}]))
		}
	}
	m.FleetSlots.Set(float64(snap.FleetSlots))
	m.ProbeP95.Set(rep.Bulk.P95Ms / 1000)
	if rep.Bulk.Limited {
		m.BulkRate.Set(rep.Bulk.Rate)
	} else {
		m.BulkRate.Set(-1)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return f.rdb.Set(ctx, fair.CapacityKey, b, 10*publishEvery).Err()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
