package guard_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"

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
}

func newFixture(t *testing.T) *fixture {
	db := testenv.NewDatabase(t)
	cat := catalog(t)
	return &fixture{t: t, store: jobs.NewStore(db.Pool), g: &guard.Guard{Catalog: cat}, cat: cat}
}

func (f *fixture) submit(inst, typ string) *jobs.Job {
	f.t.Helper()
	j, err := f.store.Insert(context.Background(), jobs.NewJob{Institution: inst, Type: typ, SubmittedBy: "t",
		PriorityClass: "default", SingleInstance: f.cat.Rules(inst, typ).SingleInstance}, f.g)
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
	j, err := f.store.Get(context.Background(), id)
	require.NoError(f.t, err)
	return j.Status
}

func TestWaitsForHoldsPendingThenPromotes(t *testing.T) {
	f := newFixture(t)
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

func TestConflictsSkipBothWays(t *testing.T) {
	f := newFixture(t)
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

func TestConcurrentSingleInstance(t *testing.T) {
	f := newFixture(t)
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

// TestRandomInterleavings: whatever the order of submissions and finishes,
// two conflicting jobs are never both past PENDING and unfinished, and a
// single-instance type never has two unfinished jobs.
func TestRandomInterleavings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	types := []string{"import", "link", "headings", "anon"}
	rng := rand.New(rand.NewSource(42))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		seed := rng.Int63()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 40; i++ {
				if r.Intn(3) > 0 {
					typ := types[r.Intn(len(types))]
					_, err := f.store.Insert(ctx, jobs.NewJob{Institution: "A", Type: typ, SubmittedBy: "t",
						PriorityClass: "default", SingleInstance: f.cat.Rules("A", typ).SingleInstance}, f.g)
					if err != nil {
						t.Error(err)
						return
					}
				} else {
					mu.Lock()
					queued, _ := f.store.IDsInStatus(ctx, jobs.Queued)
					if len(queued) > 0 {
						id := queued[r.Intn(len(queued))]
						for _, s := range []jobs.Status{jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedSuccess} {
							_ = f.store.Transition(ctx, f.store.Pool, id, s, "")
						}
					}
					mu.Unlock()
				}
				if _, err := f.g.Promote(ctx, f.store, "A"); err != nil {
					t.Error(err)
					return
				}
				checkInvariant(t, f)
			}
		}()
	}
	wg.Wait()
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
