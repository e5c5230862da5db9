package fair

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }

func TestLoadAIMD(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	cfg := config.LoadControl{Threshold: 100 * time.Millisecond, Interval: time.Second, Increase: 10, Decrease: 0.5, MinRate: 2}
	l := NewLoad(cfg, clk.now)
	// One interval: fast probes while bulk runs at 100 chunks/s.
	interval := func(probe time.Duration, admitted int) {
		for range 5 {
			clk.add(200 * time.Millisecond)
			l.Admitted(admitted / 5)
			l.Observe(probe)
		}
	}
	interval(5*time.Millisecond, 100)
	require.False(t, l.State().Limited)
	require.Equal(t, math.MaxInt32, l.Allowance())

	// PostgreSQL slows: halve from what bulk just ran at, then halve again.
	interval(300*time.Millisecond, 100)
	st := l.State()
	require.True(t, st.Limited, st.Reason)
	require.InDelta(t, 50, st.Rate, 0.01)
	require.Contains(t, st.Reason, "above 100ms")
	interval(300*time.Millisecond, 50)
	require.InDelta(t, 25, l.State().Rate, 0.01)
	for range 10 {
		interval(300*time.Millisecond, 10)
	}
	require.InDelta(t, 2, l.State().Rate, 0.01, "never below min_rate")

	// The bucket hands out the rate, one second's worth at most.
	clk.add(10 * time.Second)
	require.Equal(t, 2, l.Allowance())
	l.Admitted(2)
	require.Equal(t, 0, l.Allowance())
	clk.add(500 * time.Millisecond)
	require.Equal(t, 1, l.Allowance())

	// Fast again: +10 per interval until back at what bulk ran at, then unlimited.
	interval(5*time.Millisecond, 0)
	require.InDelta(t, 12, l.State().Rate, 0.01)
	for range 20 {
		interval(5*time.Millisecond, 0)
	}
	st = l.State()
	require.False(t, st.Limited, st.Reason)
	require.Contains(t, st.Reason, "unlimited")
}
