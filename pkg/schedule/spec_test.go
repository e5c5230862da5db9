package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	require.NoError(t, err)
	return v
}

// occurrences lists every occurrence in [from, to).
func occurrences(s Spec, from, to time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	prev := time.Time{}
	cur := from
	for {
		n := s.Next(cur, prev, loc)
		if !n.Before(to) {
			return out
		}
		out = append(out, n)
		prev, cur = n, n
	}
}

func TestDailyAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	// Spring forward 2026-03-08: 02:30 does not exist; the job runs once.
	got := occurrences(Spec{Kind: "daily", At: "02:30"}, at(t, ny, "2026-03-07 00:00"), at(t, ny, "2026-03-10 00:00"), ny)
	require.Len(t, got, 3)
	require.Equal(t, "2026-03-08 03:30 EDT", got[1].In(ny).Format("2006-01-02 15:04 MST"))
	// Fall back 2026-11-01: 01:30 happens twice; the job runs once.
	got = occurrences(Spec{Kind: "daily", At: "01:30"}, at(t, ny, "2026-10-31 00:00"), at(t, ny, "2026-11-03 00:00"), ny)
	require.Len(t, got, 3)
	require.Equal(t, "2026-11-01", got[1].In(ny).Format("2006-01-02"))
	// And from inside the repeated hour, the day is not chosen again.
	second := at(t, ny, "2026-11-01 01:45").Add(time.Hour) // 01:45 EST, the second pass
	require.Equal(t, "2026-11-02 01:30", Spec{Kind: "daily", At: "01:30"}.Next(second, time.Time{}, ny).In(ny).Format("2006-01-02 15:04"))
}

func TestTimeZoneMatters(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ny, _ := time.LoadLocation("America/New_York")
	after := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	s := Spec{Kind: "daily", At: "08:00"}
	require.Equal(t, time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC), s.Next(after, time.Time{}, berlin).UTC())
	require.Equal(t, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), s.Next(after, time.Time{}, ny).UTC())
}

func TestWeeklyMonthlyEveryHours(t *testing.T) {
	utc := time.UTC
	after := at(t, utc, "2026-01-28 12:00") // a Wednesday
	require.Equal(t, "2026-02-02 03:00", Spec{Kind: "weekly", Weekday: "Monday", At: "03:00"}.Next(after, time.Time{}, utc).Format("2006-01-02 15:04"))
	require.Equal(t, "2026-01-31 03:00", Spec{Kind: "monthly", MonthDay: 31, At: "03:00"}.Next(after, time.Time{}, utc).Format("2006-01-02 15:04"))
	require.Equal(t, "2026-02-28 03:00", Spec{Kind: "monthly", MonthDay: 31, At: "03:00"}.Next(at(t, utc, "2026-02-01 00:00"), time.Time{}, utc).Format("2006-01-02 15:04"), "clipped to the month")
	prev := at(t, utc, "2026-01-28 10:00")
	require.Equal(t, "2026-01-28 16:00", Spec{Kind: "every_hours", EveryHours: 6}.Next(after, prev, utc).Format("2006-01-02 15:04"))
	require.Equal(t, "2026-01-31 16:00", Spec{Kind: "every_hours", EveryHours: 6}.Next(at(t, utc, "2026-01-31 12:00"), prev, utc).Format("2006-01-02 15:04"), "anchored to the previous run")
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Kind: "hourly"}, "kind \"hourly\""},
		{Spec{Kind: "daily", At: "25:00"}, "not a time of day"},
		{Spec{Kind: "weekly", At: "01:00", Weekday: "funday"}, "not a day of the week"},
		{Spec{Kind: "monthly", At: "01:00", MonthDay: 0}, "month_day"},
		{Spec{Kind: "every_hours"}, "every_hours"},
	} {
		require.ErrorContains(t, tc.s.Validate(), tc.want)
	}
	require.NoError(t, Spec{Kind: "weekly", At: "23:59", Weekday: "Sunday"}.Validate())
}
