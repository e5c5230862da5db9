package engine

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bindery/bindery/pkg/guard"
)

// guardMetrics count what the reconciler did to the guard's Redis copy.
type guardMetrics struct {
	rebuilds prometheus.Counter
	released prometheus.Counter
	restored prometheus.Counter
}

func newGuardMetrics(r *prometheus.Registry) *guardMetrics {
	return &guardMetrics{
		rebuilds: counter(r, "bindery_guard_rebuilds_total",
			"Times the reconciler rebuilt the guard's Redis copy from PostgreSQL under a new epoch (Redis lost it)."),
		released: counter(r, "bindery_guard_leases_released_total",
			"Guard leases the reconciler released: jobs that ended, or never committed past the grace period."),
		restored: counter(r, "bindery_guard_drift_repaired_total",
			"Unfinished jobs the reconciler put back into the guard's Redis copy, or whose state there it corrected."),
	}
}

// counter registers a counter, or returns the one already registered (two
// engines may share one registry).
func counter(r *prometheus.Registry, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing
			}
		}
		panic(err) // a name clash with another kind of collector: a bug
	}
	return c
}

func (m *guardMetrics) observe(rep guard.Repair) {
	if rep.Rebuilt {
		m.rebuilds.Inc()
	}
	m.released.Add(float64(len(rep.Released)))
	m.restored.Add(float64(len(rep.Restored)))
}
