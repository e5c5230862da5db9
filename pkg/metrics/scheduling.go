package metrics

import "github.com/prometheus/client_golang/prometheus"

// Scheduling are the collectors of fair admission, peak caps and load-aware
// admission (docs/scheduling.md). Chunk counters and waits are labelled by
// institution and class, never by job, so their cardinality stays small.
type Scheduling struct {
	ChunksCompleted *prometheus.CounterVec   // worker: institution, class
	QueueWait       *prometheus.HistogramVec // worker: class; admission → start
	JobWait         *prometheus.HistogramVec // engine: class; submitted → RUNNING
	CapBounces      *prometheus.CounterVec   // worker: institution; bulk chunk deferred by the peak cap
	InFlight        *prometheus.GaugeVec     // engine: institution, class
	InPeak          *prometheus.GaugeVec     // engine: institution (1 in peak)
	CapSlots        *prometheus.GaugeVec     // engine: institution (bulk cap; -1 none)
	CapHeld         *prometheus.GaugeVec     // engine: institution (bulk slots held)
	CapUtilisation  *prometheus.GaugeVec     // engine: institution (held / cap while capped)
	BulkRate        prometheus.Gauge         // engine: chunks/s while limited, -1 unlimited
	ProbeP95        prometheus.Gauge         // engine: seconds
	FleetSlots      prometheus.Gauge         // engine
	Weight          *prometheus.GaugeVec     // engine: institution (priority weight)
}

func newScheduling() Scheduling {
	waitBuckets := prometheus.ExponentialBuckets(0.001, 2.5, 14) // 1 ms .. ~2 h
	return Scheduling{
		ChunksCompleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_chunks_completed_total", Help: "Chunks committed by workers, by institution and class."},
			[]string{"institution", "class"}),
		QueueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bindery_chunk_queue_wait_seconds", Help: "Time from a chunk's admission (enqueued) to a worker starting it, by class.",
			Buckets: waitBuckets}, []string{"class"}),
		JobWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bindery_job_wait_seconds", Help: "Time from a job's submission to RUNNING, by class.",
			Buckets: waitBuckets}, []string{"class"}),
		CapBounces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_peak_cap_deferred_total", Help: "Bulk chunk deliveries deferred because the institution's peak cap was full."},
			[]string{"institution"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_chunks_in_flight", Help: "Chunks admitted and not yet committed, by institution and class."},
			[]string{"institution", "class"}),
		InPeak: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_institution_in_peak", Help: "1 while the institution is in its peak hours."},
			[]string{"institution"}),
		CapSlots: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_peak_cap_slots", Help: "Worker slots the institution's bulk work may use fleet-wide (-1: no cap)."},
			[]string{"institution"}),
		CapHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_peak_cap_held", Help: "Worker slots the institution's bulk chunks hold now."},
			[]string{"institution"}),
		CapUtilisation: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_peak_cap_utilisation", Help: "Held / cap while the institution's bulk work is capped (0 off-peak)."},
			[]string{"institution"}),
		BulkRate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bindery_bulk_admission_rate", Help: "Load-aware bulk admission rate in chunks/s (-1: unlimited)."}),
		ProbeP95: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bindery_postgres_probe_p95_seconds", Help: "p95 latency of the engine's PostgreSQL probe over the last interval."}),
		FleetSlots: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bindery_fleet_slots", Help: "Worker slots of the live workers."}),
		Weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bindery_institution_weight", Help: "The institution's priority weight (its share of admissions when all have work)."},
			[]string{"institution"}),
	}
}

func (s Scheduling) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.ChunksCompleted, s.QueueWait, s.JobWait, s.CapBounces, s.InFlight, s.InPeak,
		s.CapSlots, s.CapHeld, s.CapUtilisation, s.BulkRate, s.ProbeP95, s.FleetSlots, s.Weight}
}
