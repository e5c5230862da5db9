package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The priority classes the scheduler knows by name. They are asynq queues
// (declared under queues, with their weights); a job's class is its type's
// priority_class unless an operator overrides its priority.
const (
	ClassCritical = "critical" // workflow and interactive work: never capped
	ClassDefault  = "default"
	ClassBulk     = "bulk" // capped during an institution's peak hours
)

// Job priorities an operator may set (`bindery job priority ID ...`).
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityLow    = "low"
)

// ClassFor is the class a job of type jt runs in under priority: high runs
// critical, low runs bulk, normal runs the type's own class.
func (c *Config) ClassFor(jt *JobType, priority string) (string, error) {
	class := jt.PriorityClass
	switch priority {
	case PriorityNormal, "":
	case PriorityHigh:
		class = ClassCritical
	case PriorityLow:
		class = ClassBulk
	default:
		return "", fmt.Errorf("unknown priority %q (high, normal, low)", priority)
	}
	if _, ok := c.Queues[class]; !ok {
		return "", fmt.Errorf("priority %s needs the queue %q, which the configuration does not declare", priority, class)
	}
	return class, nil
}

// Peak is an institution's peak hours: while one of Windows holds in the
// institution's time zone, its bulk work may use at most BulkShare of the
// fleet's worker slots (at least one slot).
type Peak struct {
	// Windows like "Mon-Fri 08:00-18:00", "Sat 10:00-14:00",
	// "Mon,Wed 22:00-02:00" (an end before the start runs past midnight).
	Windows   []string `yaml:"windows"`
	BulkShare float64  `yaml:"bulk_share"`

	windows []Window
}

// Window is one parsed peak window: the days it starts on and its start and
// end as offsets from midnight.
type Window struct {
	Days       [7]bool // by time.Weekday
	Start, End time.Duration
}

// LoadControl tunes load-aware admission: the engine times a probe query against
// PostgreSQL and, every Interval, halves the bulk class's admission rate
// (times Decrease) while the probe's p95 is above Threshold, or raises it by
// Increase chunks/s while it is below, up to unlimited.
type LoadControl struct {
	Threshold time.Duration `yaml:"threshold"`
	Interval  time.Duration `yaml:"interval"`
	Increase  float64       `yaml:"increase"`
	Decrease  float64       `yaml:"decrease"`
	MinRate   float64       `yaml:"min_rate"`
}

// Revalidate validates a configuration changed in memory (tests, tools),
// parsing its peak windows again.
func (c *Config) Revalidate() error { return c.validate() }

func (c *Config) schedulingDefaults() {
	if c.Admission.FleetWindow == 0 {
		// Deep enough for fast chunks (the engine's round trip), shared
		// among institutions; slow chunks use less (engine pipeline).
		c.Admission.FleetWindow = 4 * c.Admission.Window
	}
	if c.Admission.CapLease == 0 {
		c.Admission.CapLease = 15 * time.Second
	}
	l := &c.Admission.Load
	if l.Threshold == 0 {
		l.Threshold = 250 * time.Millisecond
	}
	if l.Interval == 0 {
		l.Interval = time.Second
	}
	if l.Increase == 0 {
		l.Increase = 5
	}
	if l.Decrease == 0 {
		l.Decrease = 0.5
	}
	if l.MinRate == 0 {
		l.MinRate = 1
	}
	for i := range c.Institutions {
		if c.Institutions[i].Peak.BulkShare == 0 {
			c.Institutions[i].Peak.BulkShare = 0.25
		}
	}
	for i := range c.JobTypes {
		if jt := &c.JobTypes[i]; jt.PriorityClass == "" && jt.Kind == "workflow" {
			if _, ok := c.Queues[ClassCritical]; ok {
				jt.PriorityClass = ClassCritical
			}
		}
	}
}

func (c *Config) validateScheduling(bad func(field, format string, args ...any)) {
	a := c.Admission
	if a.FleetWindow < 1 {
		bad("admission.fleet_window", "must be at least 1, got %d", a.FleetWindow)
	}
	if a.CapLease < time.Second {
		bad("admission.cap_lease", "must be at least 1s, got %s", a.CapLease)
	}
	l := a.Load
	if l.Threshold < 0 {
		bad("admission.load.threshold", "must not be negative, got %s", l.Threshold)
	}
	if l.Interval < 10*time.Millisecond {
		bad("admission.load.interval", "must be at least 10ms, got %s", l.Interval)
	}
	if l.Increase <= 0 {
		bad("admission.load.increase", "must be positive (chunks/s added per interval), got %g", l.Increase)
	}
	if l.Decrease <= 0 || l.Decrease >= 1 {
		bad("admission.load.decrease", "must be between 0 and 1 (the factor the rate is multiplied by), got %g", l.Decrease)
	}
	if l.MinRate <= 0 {
		bad("admission.load.min_rate", "must be positive (chunks/s), got %g", l.MinRate)
	}
	for i := range c.Institutions {
		in := &c.Institutions[i]
		f := fmt.Sprintf("institutions[%d].peak", i)
		if in.Peak.BulkShare <= 0 || in.Peak.BulkShare > 1 {
			bad(f+".bulk_share", "must be in (0, 1], got %g", in.Peak.BulkShare)
		}
		in.Peak.windows = nil
		for j, w := range in.Peak.Windows {
			pw, err := ParseWindow(w)
			if err != nil {
				bad(fmt.Sprintf("%s.windows[%d]", f, j), "%v", err)
				continue
			}
			in.Peak.windows = append(in.Peak.windows, pw)
		}
	}
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindow parses "DAYS HH:MM[:SS]-HH:MM[:SS]": DAYS is a day ("Mon"), a
// range ("Mon-Fri", wrapping: "Fri-Mon"), or a comma list of either.
func ParseWindow(s string) (Window, error) {
	var w Window
	days, span, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return w, fmt.Errorf("peak window %q: want DAYS HH:MM-HH:MM (like Mon-Fri 08:00-18:00)", s)
	}
	for _, part := range strings.Split(days, ",") {
		from, to, isRange := strings.Cut(part, "-")
		d1, ok1 := dayNames[strings.ToLower(from)]
		d2, ok2 := d1, ok1
		if isRange {
			d2, ok2 = dayNames[strings.ToLower(to)]
		}
		if !ok1 || !ok2 {
			return w, fmt.Errorf("peak window %q: bad days %q (use Mon, Tue, ... Sun, ranges like Mon-Fri, lists like Mon,Wed)", s, part)
		}
		for d := d1; ; d = (d + 1) % 7 {
			w.Days[d] = true
			if d == d2 {
				break
			}
		}
	}
	from, to, ok := strings.Cut(strings.TrimSpace(span), "-")
	if !ok {
		return w, fmt.Errorf("peak window %q: bad hours %q (want HH:MM-HH:MM)", s, span)
	}
	var err error
	if w.Start, err = clock(from, false); err != nil {
		return w, fmt.Errorf("peak window %q: %v", s, err)
	}
	if w.End, err = clock(to, true); err != nil {
		return w, fmt.Errorf("peak window %q: %v", s, err)
	}
	if w.Start == w.End {
		return w, fmt.Errorf("peak window %q: starts and ends at the same time", s)
	}
	return w, nil
}

// clock parses HH:MM or HH:MM:SS; 24:00 only as an end.
func clock(s string, end bool) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("bad time %q (want HH:MM or HH:MM:SS)", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || len(p) != 2 {
			return 0, fmt.Errorf("bad time %q (want HH:MM or HH:MM:SS)", s)
		}
		n[i] = v
	}
	d := time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second
	if n[1] > 59 || n[2] > 59 || d > 24*time.Hour || (d == 24*time.Hour && !end) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return d, nil
}

// Contains reports whether local (a wall-clock time in the institution's
// zone) falls in the window.
func (w Window) Contains(local time.Time) bool {
	// Wall-clock time of day (not elapsed time: DST days are 23 or 25 h).
	since := time.Duration(local.Hour())*time.Hour + time.Duration(local.Minute())*time.Minute +
		time.Duration(local.Second())*time.Second
	day := local.Weekday()
	if w.Start < w.End {
		return w.Days[day] && since >= w.Start && since < w.End
	}
	// Past midnight: from Start on a listed day, until End the next day.
	return (w.Days[day] && since >= w.Start) || (w.Days[(day+6)%7] && since < w.End)
}

// InPeak reports whether now falls in one of the institution's peak windows,
// in its time zone.
func (in *Institution) InPeak(now time.Time) bool {
	loc := in.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	for _, w := range in.Peak.windows {
		if w.Contains(local) {
			return true
		}
	}
	return false
}
