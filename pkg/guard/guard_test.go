package guard_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
)

// catalogYAML: import and linking like the reference (linking waits for
// import, heading correction conflicts with linking, anonymization is
// single-instance), plus an institution that overrides a rule.
const catalogYAML = `
networks: [{id: N, name: Net}]
institutions:
  - {id: A, name: A, network: N}
  - id: B
    name: B
    network: N
    job_rules:
      link: {waits_for: []}
job_types:
  - {id: import, name: Import, category: import, kind: manual}
  - {id: link, name: Link, category: authorities, kind: scheduled, waits_for: [import]}
  - {id: headings, name: Headings, category: metadata, kind: scheduled, conflicts_with: [link]}
  - {id: anon, name: Anon, category: fulfillment, kind: scheduled, single_instance: true}
`

func catalog(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(catalogYAML))
	require.NoError(t, err)
	return c
}

type fixture struct {
	t     *testing.T
	store *jobs.Store
	g     *guard.Guard
	cat   *config.Config
	rc    *redis.Client // nil in PostgreSQL-only mode
	clock *fakeClock
}

// fakeClock is the guard's clock: leases are stamped with it and aged by it.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *fakeClock                   { c := &fakeClock{}; c.ns.Store(time.Now().UnixNano()); return c }

const grace = time.Minute

// newFixture: mode "redis" is the guard as the server runs it (a Lua step
// on a copy in a Redis of the test's own, rebuilt by the reconciler before
// the first decision); "postgres" decides in PostgreSQL alone.
func newFixture(t *testing.T, mode string) *fixture {
	db := testenv.NewDatabase(t)
	cat := catalog(t)
	f := &fixture{t: t, store: jobs.NewStore(db.Pool), g: &guard.Guard{Catalog: cat}, cat: cat, clock: newClock()}
	if mode == "redis" {
		rd := testenv.NewRedis(t)
		opt, err := redis.ParseURL(rd.URL)
		require.NoError(t, err)
		f.rc = redis.NewClient(opt)
		t.Cleanup(func() { _ = f.rc.Close() })
		f.g, err = guard.New(cat, f.rc, guard.Config{Now: f.clock.Now, LeaseGrace: grace, RebuildWait: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		require.NoError(t, err)
		rep := f.reconcile()
		require.True(t, rep.Rebuilt, "an empty Redis is rebuilt before the first decision")
	}
	return f
}

// testWriter sends the guard's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// bothModes runs a test against the Redis guard and the PostgreSQL-only one.
func bothModes(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, mode := range []string{"redis", "postgres"} {
		t.Run(mode, func(t *testing.T) { test(t, newFixture(t, mode)) })
	}
}

func (f *fixture) reconcile() guard.Repair {
	f.t.Helper()
	rep, err := f.g.Reconcile(context.Background(), f.store)
	require.NoError(f.t, err)
	return rep
}

func (f *fixture) newJob(inst, typ string) jobs.NewJob {
	return jobs.NewJob{Institution: inst, Type: typ, SubmittedBy: "t", PriorityClass: "default",
		SingleInstance: f.cat.Rules(inst, typ).SingleInstance}
}

func (f *fixture) submit(inst, typ string) *jobs.Job {
	f.t.Helper()
	j, err := f.store.Insert(context.Background(), f.newJob(inst, typ), f.g)
	require.NoError(f.t, err)
	return j
}

// finish walks a QUEUED job to COMPLETED_SUCCESS through legal transitions.
func (f *fixture) finish(id int64) {
	f.t.Helper()
	for _, s := range []jobs.Status{jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedSuccess} {
		require.NoError(f.t, f.store.Transition(context.Background(), f.store.Pool, id, s, ""))
	}
}

func (f *fixture) status(id int64) jobs.Status {
	f.t.Helper()
	j, err := f.store.Get(context.Background(), id)
	require.NoError(f.t, err)
	return j.Status
}

// copyOf returns the guard's Redis copy of an institution: its marker's
// epoch and every job of its type hashes (id -> value).
func (f *fixture) copyOf(inst string) map[string]string {
	f.t.Helper()
	return guardCopy(f.t, f.rc, inst)
}

func guardCopy(t *testing.T, rc *redis.Client, inst string) map[string]string {
	t.Helper()
	ctx := context.Background()
	h, err := rc.HGetAll(ctx, "bindery:guard:{"+inst+"}").Result()
	require.NoError(t, err)
	keys, err := rc.Keys(ctx, "bindery:guard:{"+inst+"}:*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		jobs, err := rc.HGetAll(ctx, k).Result()
		require.NoError(t, err)
		for id, v := range jobs {
			require.NotContains(t, h, id, "job %s in two type hashes", id)
			require.True(t, strings.HasSuffix(k, ":"+strings.Split(v, "|")[1]), "job %s=%s in %s", id, v, k)
			h[id] = v
		}
	}
	return h
}

// tamper deletes jobs from the copy behind the guard's back.
func (f *fixture) tamper(inst string, pick func(id string) bool) {
	f.t.Helper()
	ctx := context.Background()
	keys, err := f.rc.Keys(ctx, "bindery:guard:{"+inst+"}:*").Result()
	require.NoError(f.t, err)
	for _, k := range keys {
		ids, err := f.rc.HKeys(ctx, k).Result()
		require.NoError(f.t, err)
		for _, id := range ids {
			if pick(id) {
				require.NoError(f.t, f.rc.HDel(ctx, k, id).Err())
			}
		}
	}
}

func TestWaitsForHoldsPendingThenPromotes(t *testing.T) {
	bothModes(t, testWaitsForHoldsPendingThenPromotes)
}

func testWaitsForHoldsPendingThenPromotes(t *testing.T, f *fixture) {
	ctx := context.Background()
	imp := f.submit("A", "import")
	require.Equal(t, jobs.Queued, imp.Status)
	link := f.submit("A", "link")
	require.Equal(t, jobs.Pending, link.Status)
	require.Equal(t, []int64{imp.ID}, link.WaitingFor)
	require.Contains(t, link.Message, fmt.Sprintf("waiting for job %d (import", imp.ID))
	link2 := f.submit("A", "link")
	require.Equal(t, jobs.Pending, link2.Status)

	n, err := f.g.Promote(ctx, f.store, "A")
	require.NoError(t, err)
	require.Zero(t, n, "the import still runs")

	f.finish(imp.ID)
	n, err = f.g.Promote(ctx, f.store, "A")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, jobs.Queued, f.status(link.ID))
	require.Equal(t, jobs.Queued, f.status(link2.ID))

	// Another institution's rules and jobs are its own.
	other := f.submit("B", "link")
	require.Equal(t, jobs.Queued, other.Status, "B overrides waits_for")
}

func TestConflictsSkipBothWays(t *testing.T) { bothModes(t, testConflictsSkipBothWays) }

func testConflictsSkipBothWays(t *testing.T, f *fixture) {
	link := f.submit("A", "link")
	require.Equal(t, jobs.Queued, link.Status)
	h := f.submit("A", "headings")
	require.Equal(t, jobs.Skipped, h.Status)
	require.Contains(t, h.Message, fmt.Sprintf("job %d (link", link.ID))
	require.NotNil(t, h.EndedAt)

	f.finish(link.ID)
	h2 := f.submit("A", "headings")
	require.Equal(t, jobs.Queued, h2.Status)
	link2 := f.submit("A", "link")
	require.Equal(t, jobs.Skipped, link2.Status, "conflicts are symmetric")
	require.Contains(t, link2.Message, fmt.Sprintf("job %d (headings", h2.ID))
}

func TestConcurrentSingleInstance(t *testing.T) { bothModes(t, testConcurrentSingleInstance) }

func testConcurrentSingleInstance(t *testing.T, f *fixture) {
	const n, workers = 200, 8
	results := make(chan *jobs.Job, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/workers; i++ {
				j, err := f.store.Insert(context.Background(), jobs.NewJob{Institution: "A", Type: "anon", SubmittedBy: "t",
					PriorityClass: "default", SingleInstance: true}, f.g)
				if err != nil {
					t.Error(err)
					return
				}
				results <- j
			}
		}()
	}
	wg.Wait()
	close(results)
	var runner *jobs.Job
	var skipped []*jobs.Job
	for j := range results {
		if j.Status == jobs.Skipped {
			skipped = append(skipped, j)
		} else {
			require.Nil(t, runner, "two instances admitted")
			runner = j
		}
	}
	require.NotNil(t, runner)
	require.Len(t, skipped, n-1)
	for _, s := range skipped {
		require.Contains(t, s.Message, fmt.Sprintf("job %d (anon", runner.ID))
	}
}

// TestRandomInterleavings: whatever the order of submissions, finishes and
// crashes, two conflicting jobs are never both past PENDING and unfinished,
// and a single-instance type never has two unfinished jobs. With the Redis
// guard, crashes are: a submission whose transaction dies after its Lua
// step (its lease leaks), Redis losing everything (rebuilt by the
// reconciler while others decide), the copy tampered with (an entry
// deleted), and the clock jumping past the lease grace period while
// submissions are in flight (the reconciler then releases their leases).
func TestRandomInterleavings(t *testing.T) { bothModes(t, testRandomInterleavings) }

func testRandomInterleavings(t *testing.T, f *fixture) {
	ctx := context.Background()
	types := []string{"import", "link", "headings", "anon"}
	rng := rand.New(rand.NewSource(42))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var crashes atomic.Int64
	for w := 0; w < 6; w++ {
		seed := rng.Int63()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 40; i++ {
				typ := types[r.Intn(len(types))]
				switch ev := r.Intn(12); {
				case ev < 7:
					if _, err := f.store.Insert(ctx, f.newJob("A", typ), f.g); err != nil {
						t.Error(err)
						return
					}
				case ev < 10:
					mu.Lock()
					queued, _ := f.store.IDsInStatus(ctx, jobs.Queued)
					if len(queued) > 0 {
						id := queued[r.Intn(len(queued))]
						for _, s := range []jobs.Status{jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedSuccess} {
							_ = f.store.Transition(ctx, f.store.Pool, id, s, "")
						}
						j, _ := f.store.Row(ctx, id)
						f.g.Forget(ctx, "A", j.Type, id)
					}
					mu.Unlock()
				case f.rc == nil:
				case ev == 10:
					// A server dies between its decision and its commit.
					crashes.Add(1)
					tx, err := f.store.Pool.Begin(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					_, err = f.store.InsertTx(ctx, tx, f.newJob("A", typ), f.g)
					_ = tx.Rollback(ctx)
					if errors.Is(err, guard.ErrLost) {
						err = f.g.WaitReady(ctx, "A")
					}
					if err != nil {
						t.Error(err)
						return
					}
				default:
					crashes.Add(1)
					switch r.Intn(3) {
					case 0: // Redis loses everything; the reconciler rebuilds.
						if err := f.rc.FlushDB(ctx).Err(); err != nil {
							t.Error(err)
							return
						}
					case 1: // Someone deletes jobs from the copy; nobody repairs it yet.
						f.tamper("A", func(string) bool { return r.Intn(2) == 0 })
						continue
					case 2: // Time jumps: leases in flight look dead.
						f.clock.Advance(2 * grace)
					}
					if _, err := f.g.Reconcile(ctx, f.store); err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := f.g.Promote(ctx, f.store, "A"); err != nil && !errors.Is(err, guard.ErrLost) {
					t.Error(err)
					return
				}
				checkInvariant(t, f)
			}
		}()
	}
	wg.Wait()
	if f.rc != nil {
		require.Positive(t, crashes.Load())
		// After a last reconciliation, the copy holds exactly the unfinished jobs.
		f.clock.Advance(2 * grace)
		f.reconcile()
		var want []string
		rows, err := f.store.Pool.Query(ctx, `SELECT id::text FROM jobs WHERE status IN ('PENDING', 'QUEUED') ORDER BY id`)
		require.NoError(t, err)
		want, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		var got []string
		for k := range f.copyOf("A") {
			if k != "epoch" {
				got = append(got, k)
			}
		}
		require.ElementsMatch(t, want, got)
	}
}

func checkInvariant(t *testing.T, f *fixture) {
	t.Helper()
	rows, err := f.store.Pool.Query(context.Background(), `SELECT id, type, status FROM jobs
		WHERE status IN ('QUEUED', 'INITIALIZING', 'RUNNING', 'FINALIZING') ORDER BY id`)
	require.NoError(t, err)
	var live []string
	var liveIDs []int64
	for rows.Next() {
		var id int64
		var typ, st string
		require.NoError(t, rows.Scan(&id, &typ, &st))
		live = append(live, typ)
		liveIDs = append(liveIDs, id)
	}
	require.NoError(t, rows.Err())
	count := map[string]int{}
	for _, typ := range live {
		count[typ]++
	}
	if count["link"] > 0 && count["headings"] > 0 {
		t.Errorf("link and headings unfinished together: %v %v", liveIDs, live)
	}
	if count["anon"] > 1 {
		t.Errorf("two unfinished anon jobs: %v %v", liveIDs, live)
	}
}

func TestWaitsForCycleRefused(t *testing.T) {
	bad := strings.Replace(catalogYAML, "{id: import, name: Import, category: import, kind: manual}",
		"{id: import, name: Import, category: import, kind: manual, waits_for: [link]}", 1)
	_, err := config.Parse("test.yaml", []byte(bad))
	require.ErrorContains(t, err, "waits_for forms a cycle: import -> link -> import")
}
