package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPeakWindows(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05", s, ny)
		require.NoError(t, err)
		return tm
	}
	tests := []struct {
		window string
		at     string // New York wall time; 2026-11-25 is a Wednesday
		in     bool
	}{
		{"Mon-Fri 08:00-18:00", "2026-11-25 08:00:00", true},
		{"Mon-Fri 08:00-18:00", "2026-11-25 17:59:59", true},
		{"Mon-Fri 08:00-18:00", "2026-11-25 18:00:00", false},
		{"Mon-Fri 08:00-18:00", "2026-11-25 07:59:59", false},
		{"Mon-Fri 08:00-18:00", "2026-11-28 10:00:00", false}, // Saturday
		{"Sat 10:00-14:00", "2026-11-28 10:00:00", true},
		{"Fri-Mon 09:00-10:00", "2026-11-30 09:30:00", true}, // wrapping range: Monday
		{"Fri-Mon 09:00-10:00", "2026-11-25 09:30:00", false},
		{"Mon,Wed 22:00-02:00", "2026-11-25 23:00:00", true},
		{"Mon,Wed 22:00-02:00", "2026-11-26 01:59:00", true}, // Thursday, past Wednesday's midnight
		{"Mon,Wed 22:00-02:00", "2026-11-27 01:00:00", false},
		{"Mon-Sun 00:00-24:00", "2026-11-29 23:59:59", true},
		{"Wed 10:00:30-10:00:45", "2026-11-25 10:00:40", true},
		{"Mon-Fri 08:00-18:00", "2026-03-09 08:30:00", true}, // the day after DST starts
	}
	for _, tt := range tests {
		w, err := ParseWindow(tt.window)
		require.NoError(t, err, tt.window)
		require.Equal(t, tt.in, w.Contains(at(tt.at)), "%s at %s", tt.window, tt.at)
	}
	for _, bad := range []string{"Mon-Fri", "Funday 08:00-18:00", "Mon 8:00-18:00", "Mon 08:00-25:00", "Mon 09:00-09:00", "Mon 24:00-01:00"} {
		_, err := ParseWindow(bad)
		require.Error(t, err, bad)
	}
}

func TestSchedulingConfig(t *testing.T) {
	base := `
institutions:
  - id: A
    time_zone: Europe/Berlin
    priority_weight: 2
    peak:
      windows: ["Mon-Fri 08:00-18:00"]
      bulk_share: 0.5
queues: {critical: 6, default: 3, bulk: 1}
job_types:
  - {id: x, name: X, category: import, kind: manual, priority_class: default}
  - {id: y, name: Y, category: import, kind: workflow}
`
	c, err := Parse("t.yaml", []byte(base))
	require.NoError(t, err)
	in, _ := c.Institution("A")
	require.True(t, in.InPeak(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)), "10:00 in Berlin")
	require.False(t, in.InPeak(time.Date(2026, 11, 25, 17, 30, 0, 0, time.UTC)), "18:30 in Berlin")
	require.Equal(t, 64, c.Admission.FleetWindow, "4 x window by default")
	y, _ := c.JobType("y")
	require.Equal(t, ClassCritical, y.PriorityClass, "workflow jobs run critical unless configured")
	x, _ := c.JobType("x")
	for prio, want := range map[string]string{"high": "critical", "normal": "default", "low": "bulk"} {
		class, err := c.ClassFor(x, prio)
		require.NoError(t, err)
		require.Equal(t, want, class)
	}
	_, err = c.ClassFor(x, "urgent")
	require.ErrorContains(t, err, `unknown priority "urgent"`)

	bad := strings.Replace(base, `["Mon-Fri 08:00-18:00"]`, `["Mon-Fri 8-18"]`, 1)
	bad = strings.Replace(bad, "bulk_share: 0.5", "bulk_share: 1.5", 1)
	_, err = Parse("t.yaml", []byte(bad))
	require.ErrorContains(t, err, "t.yaml: institutions[0].peak.windows[0]: peak window \"Mon-Fri 8-18\"")
	require.ErrorContains(t, err, "institutions[0].peak.bulk_share: must be in (0, 1], got 1.5")
}

// FuzzParseWindow: any input parses or errors (no panic), and a parsed
// window answers Contains for any time.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"Mon-Fri 08:00-18:00", "Sat 10:00-14:00", "Fri-Mon 22:00-02:00", "Mon,Wed 00:00:30-24:00", "x", "Mon 24:00-01:00"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, unix int64) {
		w, err := ParseWindow(s)
		if err != nil {
			return
		}
		if w.Start < 0 || w.Start >= 24*time.Hour || w.End <= 0 || w.End > 24*time.Hour || w.Start == w.End {
			t.Fatalf("%q parsed to out-of-range window %+v", s, w)
		}
		_ = w.Contains(time.Unix(unix%(1<<40), 0).UTC())
	})
}
