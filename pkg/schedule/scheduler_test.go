package schedule_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/schedule"
	"github.com/bindery/bindery/pkg/testenv"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func newScheduler(t *testing.T, db *testenv.Database, c *clock) *schedule.Scheduler {
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	return &schedule.Scheduler{Store: jobs.NewStore(db.Pool), Catalog: cat, Guard: &guard.Guard{Catalog: cat},
		Now: c.now, Grace: time.Minute}
}

func jobCount(t *testing.T, db *testenv.Database) int {
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs`).Scan(&n))
	return n
}

// DEMO is in America/New_York: daily 02:30 local is 07:30 UTC in winter.
func TestFiresOnceInInstitutionTimeZone(t *testing.T) {
	db := testenv.NewDatabase(t)
	c := &clock{t: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
	s := newScheduler(t, db, c)
	ctx := context.Background()
	sc, err := s.Set(ctx, "DEMO", "noop", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "02:30"}, Params: map[string]string{"records": "5"}})
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 10, 7, 30, 0, 0, time.UTC), sc.NextRunAt.UTC())

	c.set(time.Date(2026, 1, 10, 7, 29, 0, 0, time.UTC))
	n, err := s.Fire(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	c.set(time.Date(2026, 1, 10, 7, 30, 5, 0, time.UTC))
	// Two servers fire at the same moment: exactly one job.
	var wg sync.WaitGroup
	other := newScheduler(t, db, c)
	counts := make([]int, 2)
	errs := make([]error, 2)
	for i, sch := range []*schedule.Scheduler{s, other} {
		wg.Add(1)
		go func() { defer wg.Done(); counts[i], errs[i] = sch.Fire(ctx) }()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, 1, counts[0]+counts[1])
	require.Equal(t, 1, jobCount(t, db))
	sc, err = s.Get(ctx, "DEMO", "noop")
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 11, 7, 30, 0, 0, time.UTC), sc.NextRunAt.UTC())
	require.NotNil(t, sc.LastJobID)
}

func TestMissedOccurrencesAfterOutage(t *testing.T) {
	db := testenv.NewDatabase(t)
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	s := newScheduler(t, db, c)
	ctx := context.Background()
	_, err := s.Set(ctx, "DEMO", "noop", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "every_hours", EveryHours: 6}})
	require.NoError(t, err)
	_, err = s.Set(ctx, "DEMO2", "noop", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "03:00"}, MissedPolicy: "skip"})
	require.NoError(t, err)

	// Every server was down for three days, across DST in New York.
	c.set(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	n, err := s.Fire(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "run_once: one job for all the missed occurrences; skip: none")
	n, err = s.Fire(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	demo, err := s.Get(ctx, "DEMO", "noop")
	require.NoError(t, err)
	require.True(t, demo.NextRunAt.After(c.now()))
	require.Contains(t, demo.LastMessage, "late")
	demo2, err := s.Get(ctx, "DEMO2", "noop")
	require.NoError(t, err)
	require.Contains(t, demo2.LastMessage, "skipped")
	require.Nil(t, demo2.LastJobID)
}

func TestScheduledJobsPassTheGuard(t *testing.T) {
	db := testenv.NewDatabase(t)
	c := &clock{t: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
	s := newScheduler(t, db, c)
	ctx := context.Background()
	_, err := s.Set(ctx, "DEMO", "loan-anonymization", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "every_hours", EveryHours: 1}})
	require.NoError(t, err)
	first, err := s.RunNow(ctx, "DEMO", "loan-anonymization", "t")
	require.NoError(t, err)
	require.Equal(t, jobs.Queued, first.Status)
	c.set(c.now().Add(time.Hour))
	_, err = s.Fire(ctx)
	require.NoError(t, err)
	sc, err := s.Get(ctx, "DEMO", "loan-anonymization")
	require.NoError(t, err)
	require.Contains(t, sc.LastMessage, "SKIPPED", "single-instance: the scheduled run is skipped while the first is unfinished")
}

func TestSetRefusesBadInput(t *testing.T) {
	db := testenv.NewDatabase(t)
	s := newScheduler(t, db, &clock{t: time.Now()})
	ctx := context.Background()
	_, err := s.Set(ctx, "DEMO", "noop", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "9am"}})
	require.ErrorContains(t, err, "not a time of day")
	_, err = s.Set(ctx, "DEMO", "nope", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "09:00"}})
	require.ErrorContains(t, err, "unknown job type")
	_, err = s.Set(ctx, "DEMO", "noop", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "09:00"}, Params: map[string]string{"records": "-1"}})
	require.ErrorContains(t, err, "below the minimum")
	_, err = s.Set(ctx, "DEMO", "metadata-import", "t", schedule.SetRequest{Spec: schedule.Spec{Kind: "daily", At: "09:00"}, Params: map[string]string{"profile": "vendor-bibs"}})
	require.ErrorContains(t, err, "cannot be scheduled")
}
