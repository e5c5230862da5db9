package guard_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
)

func (f *fixture) epoch() int64 {
	f.t.Helper()
	e, err := guard.Epoch(context.Background(), f.store.Pool)
	require.NoError(f.t, err)
	return e
}

func (f *fixture) guardEpochOf(id int64) *int64 {
	f.t.Helper()
	var e *int64
	require.NoError(f.t, f.store.Pool.QueryRow(context.Background(), `SELECT guard_epoch FROM jobs WHERE id = $1`, id).Scan(&e))
	return e
}

// states returns the copy's jobs as id -> state (A or P).
func (f *fixture) states(inst string) map[int64]string {
	f.t.Helper()
	out := map[int64]string{}
	for k, v := range f.copyOf(inst) {
		if k == "epoch" {
			continue
		}
		id, err := strconv.ParseInt(k, 10, 64)
		require.NoError(f.t, err)
		out[id] = v[:1]
	}
	return out
}

// TestRedisFlushedRebuildsBeforeDeciding: Redis loses everything (data and
// scripts). No decision is taken on the lost copy: a submission waits; the
// reconciler rebuilds the copy from PostgreSQL under a new epoch; the
// waiting submission and later ones are decided on it correctly.
func TestRedisFlushedRebuildsBeforeDeciding(t *testing.T) {
	f := newFixture(t, "redis")
	ctx := context.Background()
	imp := f.submit("A", "import")
	link := f.submit("A", "link")
	anon := f.submit("A", "anon")
	require.Equal(t, jobs.Pending, link.Status)
	require.Equal(t, int64(1), f.epoch())
	require.Equal(t, int64(1), *f.guardEpochOf(anon.ID), "the decision is recorded with its epoch")

	require.NoError(t, f.rc.FlushDB(ctx).Err())
	require.NoError(t, f.rc.ScriptFlush(ctx).Err()) // the next step meets NOSCRIPT

	// A guard that may not wait refuses at once and writes nothing.
	impatient, err := guard.New(f.cat, f.rc, guard.Config{RebuildWait: -1})
	require.NoError(t, err)
	_, err = f.store.Insert(ctx, f.newJob("A", "anon"), impatient)
	require.ErrorIs(t, err, guard.ErrLost)
	var count int
	require.NoError(t, f.store.Pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&count))
	require.Equal(t, 3, count)

	// A patient one waits for the reconciler.
	type result struct {
		job *jobs.Job
		err error
	}
	done := make(chan result, 1)
	go func() {
		j, err := f.store.Insert(ctx, f.newJob("A", "anon"), f.g)
		done <- result{j, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("decided on a lost copy: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	rep := f.reconcile()
	require.True(t, rep.Rebuilt)
	require.Equal(t, int64(2), rep.Epoch)
	require.Equal(t, int64(2), f.epoch())
	require.Equal(t, map[int64]string{imp.ID: "A", link.ID: "P", anon.ID: "A"}, f.states("A"))
	require.Equal(t, "2", f.copyOf("B")["epoch"], "every institution's copy is rebuilt")

	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, jobs.Skipped, r.job.Status)
	require.Contains(t, r.job.Message, fmt.Sprintf("another instance is in process: job %d (anon, QUEUED", anon.ID))
	require.Equal(t, int64(2), *f.guardEpochOf(r.job.ID))

	link2 := f.submit("A", "link")
	require.Equal(t, jobs.Pending, link2.Status)
	require.Equal(t, []int64{imp.ID}, link2.WaitingFor)
	f.finish(imp.ID)
	f.g.Forget(ctx, "A", "import", imp.ID)
	n, err := f.g.Promote(ctx, f.store, "A")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, map[int64]string{link.ID: "A", anon.ID: "A", link2.ID: "A"}, f.states("A"))
	h := f.submit("A", "headings")
	require.Equal(t, jobs.Skipped, h.Status, "the promoted link runs")
	require.Contains(t, h.Message, fmt.Sprintf("job %d (link", link.ID))
}

// TestStaleEpochRefused: a decision taken on a copy that has been rebuilt
// since is refused by PostgreSQL, and the guard decides again on the new copy.
func TestStaleEpochRefused(t *testing.T) {
	f := newFixture(t, "redis")
	ctx := context.Background()
	nj := f.newJob("A", "import")

	// PostgreSQL alone: a stale epoch inserts nothing.
	err := pgx.BeginFunc(ctx, f.store.Pool, func(tx pgx.Tx) error {
		_, err := f.store.InsertDecision(ctx, tx, nj, jobs.Decision{Status: jobs.Queued, Epoch: f.epoch() + 7})
		require.ErrorIs(t, err, jobs.ErrStaleEpoch)
		j, err := f.store.InsertDecision(ctx, tx, nj, jobs.Decision{Status: jobs.Queued, Epoch: f.epoch()})
		require.NoError(t, err)
		require.Equal(t, jobs.Queued, j.Status)
		return nil
	})
	require.NoError(t, err)

	// Through the guard: the copy is rebuilt between the Lua step and the
	// insert. The first insert is refused, the second is on the new epoch.
	var epochs []int64
	insert := func(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, d jobs.Decision) (*jobs.Job, error) {
		epochs = append(epochs, d.Epoch)
		if len(epochs) == 1 {
			if _, err := f.g.Rebuild(ctx, f.store, "test"); err != nil {
				return nil, err
			}
		}
		return f.store.InsertDecision(ctx, tx, nj, d)
	}
	var job *jobs.Job
	require.NoError(t, pgx.BeginFunc(ctx, f.store.Pool, func(tx pgx.Tx) error {
		job, err = f.g.Admit(ctx, tx, f.newJob("A", "link"), insert)
		return err
	}))
	require.Equal(t, []int64{1, 2}, epochs)
	require.Equal(t, int64(2), *f.guardEpochOf(job.ID))
	require.Equal(t, jobs.Pending, job.Status, "decided again on the rebuilt copy, which holds the import")
	require.Equal(t, "P", f.states("A")[job.ID])
}

// TestRebuildWaitsForDecisionsInFlight: a decision that passed its epoch
// check but has not committed holds the rebuild off; the rebuilt copy
// includes its job.
func TestRebuildWaitsForDecisionsInFlight(t *testing.T) {
	f := newFixture(t, "redis")
	ctx := context.Background()
	tx, err := f.store.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	job, err := f.store.InsertTx(ctx, tx, f.newJob("A", "anon"), f.g)
	require.NoError(t, err)

	rebuilt := make(chan error, 1)
	go func() {
		_, err := f.g.Rebuild(ctx, f.store, "test")
		rebuilt <- err
	}()
	testenv.Eventually(t, 10*time.Second, "the rebuild waiting for the decision's lock", func() bool {
		var waiting bool
		_ = f.store.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%guard_epoch FOR UPDATE%')`).Scan(&waiting)
		return waiting
	})
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-rebuilt)
	require.Equal(t, "A", f.states("A")[job.ID])
	second := f.submit("A", "anon")
	require.Equal(t, jobs.Skipped, second.Status)
}

// TestNeverCommittedLeaseReleased: a server dies between its Lua step and
// its commit. Its lease holds others off for the grace period at most: the
// reconciler then releases it, without anyone's help.
func TestNeverCommittedLeaseReleased(t *testing.T) {
	f := newFixture(t, "redis")
	ctx := context.Background()
	tx, err := f.store.Pool.Begin(ctx)
	require.NoError(t, err)
	ghost, err := f.store.InsertTx(ctx, tx, f.newJob("A", "link"), f.g)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx)) // the crash: no Forget

	h := f.submit("A", "headings")
	require.Equal(t, jobs.Skipped, h.Status, "within the grace period the lease holds")
	require.Contains(t, h.Message, fmt.Sprintf("job %d (link", ghost.ID))

	rep := f.reconcile()
	require.Empty(t, rep.Released, "not before the grace period")
	require.Contains(t, f.states("A"), ghost.ID)

	f.clock.Advance(grace + time.Second)
	rep = f.reconcile()
	require.Equal(t, []int64{ghost.ID}, rep.Released)
	require.NotContains(t, f.states("A"), ghost.ID)
	h2 := f.submit("A", "headings")
	require.Equal(t, jobs.Queued, h2.Status)

	// A job that ended without its lease being released (its server died
	// after the commit) is released at once.
	f.finish(h2.ID)
	require.Contains(t, f.states("A"), h2.ID)
	rep = f.reconcile()
	require.Equal(t, []int64{h2.ID}, rep.Released)
}

// TestTamperedCopyNeverTwoConflicting: the copy in Redis is wrong (a live
// job deleted from it): the Lua step lets a conflicting job through, and
// PostgreSQL's backstop refuses it; the job is decided in PostgreSQL
// (SKIPPED naming the blocker) and the copy repaired.
func TestTamperedCopyNeverTwoConflicting(t *testing.T) {
	f := newFixture(t, "redis")
	link := f.submit("A", "link")
	anon := f.submit("A", "anon")
	require.Equal(t, jobs.Queued, link.Status)
	f.tamper("A", func(id string) bool {
		return id == strconv.FormatInt(link.ID, 10) || id == strconv.FormatInt(anon.ID, 10)
	})
	require.Empty(t, f.states("A"))

	h := f.submit("A", "headings")
	require.Equal(t, jobs.Skipped, h.Status)
	require.Contains(t, h.Message, fmt.Sprintf("cannot run while a conflicting job is in process: job %d (link", link.ID))
	a2 := f.submit("A", "anon")
	require.Equal(t, jobs.Skipped, a2.Status)
	require.Contains(t, a2.Message, fmt.Sprintf("job %d (anon", anon.ID))
	require.Equal(t, map[int64]string{link.ID: "A", anon.ID: "A"}, f.states("A"), "the copy is repaired")
	checkInvariant(t, f)
}

// TestBackstopInPostgreSQL: whatever any guard said, PostgreSQL refuses two
// live conflicting jobs, through an insert or through a promotion.
func TestBackstopInPostgreSQL(t *testing.T) {
	f := newFixture(t, "postgres")
	ctx := context.Background()
	insert := func(typ string, st jobs.Status) (*jobs.Job, error) {
		var j *jobs.Job
		nj := f.newJob("A", typ)
		nj.Conflicts = f.cat.Rules("A", typ).Conflicts
		err := pgx.BeginFunc(ctx, f.store.Pool, func(tx pgx.Tx) error {
			var err error
			j, err = f.store.InsertDecision(ctx, tx, nj, jobs.Decision{Status: st})
			return err
		})
		return j, err
	}
	link, err := insert("link", jobs.Queued)
	require.NoError(t, err)
	_, err = insert("headings", jobs.Queued)
	require.ErrorIs(t, err, jobs.ErrGuardBackstop)
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "guard_claims_conflict", pe.ConstraintName)
	_, err = insert("link", jobs.Queued)
	require.NoError(t, err, "jobs of the same side do not conflict")

	held, err := insert("headings", jobs.Pending)
	require.NoError(t, err, "a PENDING job holds no claim")
	err = f.store.Transition(ctx, f.store.Pool, held.ID, jobs.Queued, "")
	require.ErrorIs(t, err, jobs.ErrGuardBackstop)

	f.finish(link.ID)
	var claims int
	require.NoError(t, f.store.Pool.QueryRow(ctx, `SELECT count(*) FROM guard_claims WHERE job_id = $1`, link.ID).Scan(&claims))
	require.Zero(t, claims, "an ended job releases its claims")

	_, err = insert("anon", jobs.Queued)
	require.NoError(t, err)
	_, err = insert("anon", jobs.Pending)
	require.ErrorIs(t, err, jobs.ErrGuardBackstop)
	require.True(t, errors.Is(err, jobs.ErrGuardBackstop) && strings.Contains(err.Error(), "jobs_single_instance_unfinished"))
}
