// Package schedule runs scheduled jobs: predefined options like the
// reference's (every N hours, daily, weekly, monthly at a time), evaluated in
// the institution's time zone, stored in PostgreSQL and fired exactly once
// per occurrence by the leading server.
package schedule

import (
	"fmt"
	"strings"
	"time"
)

// Spec is when a schedule fires.
type Spec struct {
	Kind       string `json:"kind"` // every_hours | daily | weekly | monthly
	EveryHours int    `json:"every_hours,omitempty"`
	At         string `json:"at,omitempty"`        // HH:MM, local time
	Weekday    string `json:"weekday,omitempty"`   // weekly: monday … sunday
	MonthDay   int    `json:"month_day,omitempty"` // monthly: 1-31 (clipped to the month's last day)
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// Validate says what is wrong with a spec, naming the field.
func (s Spec) Validate() error {
	switch s.Kind {
	case "every_hours":
		if s.EveryHours < 1 || s.EveryHours > 24*31 {
			return fmt.Errorf("every_hours must be from 1 to 744, got %d", s.EveryHours)
		}
		return nil
	case "daily", "weekly", "monthly":
	default:
		return fmt.Errorf("kind %q is not one of every_hours, daily, weekly, monthly", s.Kind)
	}
	if _, _, err := s.clock(); err != nil {
		return err
	}
	if s.Kind == "weekly" {
		if _, ok := weekdays[strings.ToLower(s.Weekday)]; !ok {
			return fmt.Errorf("weekday %q is not a day of the week (monday … sunday)", s.Weekday)
		}
	}
	if s.Kind == "monthly" && (s.MonthDay < 1 || s.MonthDay > 31) {
		return fmt.Errorf("month_day must be from 1 to 31, got %d", s.MonthDay)
	}
	return nil
}

func (s Spec) clock() (h, m int, err error) {
	t, err := time.Parse("15:04", s.At)
	if err != nil {
		return 0, 0, fmt.Errorf("at %q is not a time of day HH:MM", s.At)
	}
	return t.Hour(), t.Minute(), nil
}

// String describes the spec as staff would say it.
func (s Spec) String() string {
	switch s.Kind {
	case "every_hours":
		return fmt.Sprintf("every %d hours", s.EveryHours)
	case "daily":
		return "daily at " + s.At
	case "weekly":
		return fmt.Sprintf("weekly on %s at %s", strings.ToLower(s.Weekday), s.At)
	case "monthly":
		return fmt.Sprintf("monthly on day %d at %s", s.MonthDay, s.At)
	}
	return s.Kind
}

// Next returns the first occurrence strictly after after, in loc. For
// every_hours, prev is the previous occurrence (the anchor); for the others
// it is ignored.
//
// DST: a wall time that does not exist (02:30 on the spring-forward day) runs
// at the instant Go normalizes it to (03:30), once; a wall time that exists
// twice (01:30 on the fall-back day) runs once, at its first instance: a day
// whose occurrence's wall time has already passed is never chosen again.
func (s Spec) Next(after, prev time.Time, loc *time.Location) time.Time {
	if s.Kind == "every_hours" {
		step := time.Duration(s.EveryHours) * time.Hour
		if prev.IsZero() || prev.After(after) {
			return after.Truncate(time.Minute).Add(step)
		}
		n := prev.Add(step)
		if !n.After(after) {
			n = n.Add(after.Sub(n).Truncate(step) + step)
		}
		return n
	}
	h, m, _ := s.clock()
	local := after.In(loc)
	wallPassed := local.Hour()*60+local.Minute() >= h*60+m
	y, mo, d := local.Date()
	for i := 0; i < 400; i++ {
		day := time.Date(y, mo, d+i, 0, 0, 0, 0, loc)
		if !s.onDay(day) {
			continue
		}
		c := wallTime(day, h, m, loc)
		if i == 0 && wallPassed {
			continue
		}
		if c.After(after) {
			return c
		}
	}
	return time.Time{} // unreachable for valid specs
}

// wallTime is h:m local on day; a wall time inside a spring-forward gap
// becomes the same distance past the gap (02:30 -> 03:30), as cron does.
// (time.Date alone would move it back before the gap.)
func wallTime(day time.Time, h, m int, loc *time.Location) time.Time {
	c := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
	if lc := c.In(loc); lc.Hour() != h || lc.Minute() != m {
		_, before := c.Zone()
		_, after := c.Add(3 * time.Hour).Zone()
		c = c.Add(time.Duration(after-before) * time.Second)
	}
	return c
}

func (s Spec) onDay(day time.Time) bool {
	switch s.Kind {
	case "weekly":
		return day.Weekday() == weekdays[strings.ToLower(s.Weekday)]
	case "monthly":
		last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, day.Location()).Day()
		return day.Day() == min(s.MonthDay, last)
	}
	return true
}
