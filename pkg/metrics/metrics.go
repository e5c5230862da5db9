// Package metrics holds Bindery's Prometheus collectors.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors of one process, registered on Registry.
type Metrics struct {
	Registry         *prometheus.Registry
	JobsSubmitted    *prometheus.CounterVec
	JobsFinished     *prometheus.CounterVec
	ChunksAdmitted   *prometheus.CounterVec
	ChunksReadmitted prometheus.Counter
	ChunksCommitted  *prometheus.CounterVec
	ChunkSeconds     *prometheus.HistogramVec
	StaleDeliveries  prometheus.Counter
	Scheduling
}

// New registers the collectors on a new registry with Go and process metrics.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		JobsSubmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_jobs_submitted_total", Help: "Jobs submitted, by institution and type."},
			[]string{"institution", "type"}),
		JobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_jobs_finished_total", Help: "Jobs that reached a terminal status, by type and status."},
			[]string{"type", "status"}),
		ChunksAdmitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_chunks_admitted_total", Help: "Chunk tasks fed to the queue, by institution and class."},
			[]string{"institution", "class"}),
		ChunksReadmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bindery_chunks_readmitted_total", Help: "Chunks the reconciler put back for re-admission (dead worker or lost task)."}),
		ChunksCommitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bindery_chunks_committed_total", Help: "Chunks committed by workers, by job type."},
			[]string{"type"}),
		ChunkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bindery_chunk_duration_seconds", Help: "Time a worker spent on one chunk, commit included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"type"}),
		StaleDeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bindery_chunk_stale_deliveries_total", Help: "Chunk deliveries dropped because their fence was stale or the job no longer runs."}),
	}
	m.Scheduling = newScheduling()
	r.MustRegister(m.Scheduling.collectors()...)
	r.MustRegister(m.JobsSubmitted, m.JobsFinished, m.ChunksAdmitted, m.ChunksReadmitted, m.ChunksCommitted,
		m.ChunkSeconds, m.StaleDeliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
