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

// TestNextPoll: a job far from its end is polled every interval; one about
// to end (by its rate, every record done, or finalizing) soon, so --wait
// returns within ~100 ms of the end.
func TestNextPoll(t *testing.T) {
	const interval = 500 * time.Millisecond
	running := func(done int64) *jobs.Job {
		return &jobs.Job{Status: jobs.Running, TotalRecords: 10000, Progress: &jobs.Progress{DoneRecords: done}}
	}
	require.Equal(t, interval, nextPoll(&jobs.Job{Status: jobs.Queued}, 0, interval))
	require.Equal(t, interval, nextPoll(running(0), 0, interval), "no rate yet")
	require.Equal(t, interval, nextPoll(running(1000), 1000, interval), "9 s to go")
	require.Equal(t, 300*time.Millisecond, nextPoll(running(9700), 1000, interval), "0.3 s to go")
	require.Equal(t, soonPoll, nextPoll(running(9990), 1000, interval), "10 ms to go")
	require.Equal(t, soonPoll, nextPoll(running(10000), 0, interval), "every record done")
	require.Equal(t, interval, nextPoll(&jobs.Job{Status: jobs.Running}, 1000, interval), "no total known")
	require.Equal(t, soonPoll, nextPoll(&jobs.Job{Status: jobs.Finalizing}, 0, interval))
	require.Equal(t, 50*time.Millisecond, nextPoll(&jobs.Job{Status: jobs.Finalizing}, 0, 50*time.Millisecond), "never slower than asked")
}
