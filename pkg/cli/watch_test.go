package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
)

func TestProgressLineRateETAAndStall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var m rateMeter
	m.observe(t0, 0)
	m.observe(t0.Add(time.Second), 1000)
	require.InDelta(t, 1000, m.rate, 0.1)
	j := &jobs.Job{ID: 7, Status: jobs.Running, TotalRecords: 11000,
		Progress: &jobs.Progress{DoneRecords: 1000, Percent: 100.0 / 11}}
	line := progressLine(j, m.rate, m.stalledFor(t0.Add(time.Second)), t0.Add(time.Second))
	require.Contains(t, line, "1000 rec/s")
	require.Contains(t, line, "ETA 10s")

	// No progress for a while: no ETA, say it is stalled.
	m.observe(t0.Add(9*time.Second), 1000)
	line = progressLine(j, m.rate, m.stalledFor(t0.Add(9*time.Second)), t0.Add(9*time.Second))
	require.NotContains(t, line, "ETA")
	require.Contains(t, line, "no progress for 8s")
}
