package guard

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
)

//go:embed guard.lua
var luaSource string

// ErrLost means an institution's guard copy is missing from Redis (Redis
// lost its data) and the reconciler has not rebuilt it yet: no decision can
// be taken on it. The engine leader's reconciler rebuilds it within seconds;
// jobs.Store.Insert waits for that (WaitReady) and decides again.
var ErrLost = jobs.ErrGuardLost

// Config tunes a Redis-backed guard. Zero values take the defaults.
type Config struct {
	Logger *slog.Logger
	// Now is the clock leases are stamped and aged with.
	Now func() time.Time
	// LeaseGrace is how long a lease in Redis may name a job PostgreSQL does
	// not have (its transaction is still open, or its server crashed before
	// commit) before the reconciler releases it. Default 1 minute.
	LeaseGrace time.Duration
	// RebuildWait is how long WaitReady waits for the reconciler to rebuild
	// a lost copy before failing with ErrLost. Default 30 s; negative: fail
	// at once (the engine leader, which rebuilds it itself). A decision
	// never waits inside its transaction: it fails with ErrLost and
	// jobs.Store.Insert waits, holding no connection, then decides again.
	RebuildWait time.Duration
	// KeyPrefix prefixes the per-institution hashes. Default "bindery:guard:".
	KeyPrefix string
}

func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LeaseGrace == 0 {
		c.LeaseGrace = time.Minute
	}
	if c.RebuildWait == 0 {
		c.RebuildWait = 30 * time.Second
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "bindery:guard:"
	}
}

// New returns a guard that decides in Redis with rdb, PostgreSQL being the
// truth (see the package comment).
func New(catalog *config.Config, rdb redis.UniversalClient, cfg Config) (*Guard, error) {
	if catalog == nil {
		return nil, errors.New("guard: catalog is required")
	}
	if rdb == nil {
		return nil, errors.New("guard: a Redis client is required (a Guard{Catalog} without one decides in PostgreSQL alone)")
	}
	cfg.withDefaults()
	return &Guard{Catalog: catalog, rdb: rdb, cfg: cfg, script: redis.NewScript(luaSource)}, nil
}

// WaitReady waits until the institution's copy is in Redis again (the
// reconciler rebuilt it), at most Config.RebuildWait; then ErrLost.
func (g *Guard) WaitReady(ctx context.Context, institution string) error {
	if g.rdb == nil {
		return nil
	}
	deadline := time.Now().Add(g.cfg.RebuildWait)
	for backoff := 10 * time.Millisecond; ; backoff = min(2*backoff, 250*time.Millisecond) {
		ok, err := g.rdb.HExists(ctx, g.key(institution), "epoch").Result()
		if err != nil {
			return fmt.Errorf("guard copy: %w", err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("institution %s: waited %s: %w", institution, g.cfg.RebuildWait, ErrLost)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// key is an institution's guard hash; the braces keep it in one cluster slot.
func (g *Guard) key(institution string) string { return g.cfg.KeyPrefix + "{" + institution + "}" }

// run runs one guard operation (EVALSHA; on NOSCRIPT, after Redis lost its
// scripts, go-redis sends the script again with EVAL).
func (g *Guard) run(ctx context.Context, institution string, args ...any) ([]string, error) {
	out, err := g.script.Run(ctx, g.rdb, []string{g.key(institution)}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("guard step in Redis: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("guard step in Redis: empty answer")
	}
	if out[0] == "LOST" {
		return nil, fmt.Errorf("institution %s: %w", institution, ErrLost)
	}
	return out, nil
}

// lease is one job as the Redis copy holds it.
type lease struct {
	state string // "A" admitted, "P" pending
	typ   string
	since time.Time
}

func (l lease) value() string {
	return l.state + "|" + l.typ + "|" + strconv.FormatInt(l.since.UnixMilli(), 10)
}

func parseLease(v string) (lease, bool) {
	st, rest, ok := strings.Cut(v, "|")
	if !ok {
		return lease{}, false
	}
	i := strings.LastIndexByte(rest, '|')
	if i < 0 {
		return lease{}, false
	}
	ms, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil {
		return lease{}, false
	}
	return lease{state: st, typ: rest[:i], since: time.UnixMilli(ms)}, true
}

func stateOf(s jobs.Status) string {
	if s == jobs.Pending {
		return "P"
	}
	return "A"
}

func csv(xs []string) string { return strings.Join(xs, ",") }

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// maxAttempts bounds how often one job's decision is taken again after
// its blockers turned out stale or its epoch changed.
const maxAttempts = 5

// savepoint is where a decision's insert rolls back to when PostgreSQL's
// backstop refuses it.
const savepoint = "bindery_guard"

// admitRedis decides in Redis, checks the decision's blockers and epoch in
// PostgreSQL, and inserts the job.
func (g *Guard) admitRedis(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, r config.Rules, insert jobs.InsertFunc) (*jobs.Job, error) {
	// One round trip: the savepoint and the job's id, so the lease in Redis
	// names the job before it exists.
	var id int64
	br := tx.SendBatch(ctx, func() *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue(`SAVEPOINT ` + savepoint)
		b.Queue(`SELECT nextval('jobs_id_seq')`)
		return b
	}())
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&id)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; {
		if attempt == maxAttempts {
			g.Forget(ctx, nj.Institution, id)
			return nil, fmt.Errorf("job %d: no stable guard decision after %d attempts", id, attempt)
		}
		now := g.cfg.Now()
		res, err := g.run(ctx, nj.Institution, "decide", id, nj.Type, now.UnixMilli(), boolArg(r.SingleInstance), csv(r.Conflicts), csv(r.WaitsFor))
		if err != nil {
			return nil, err
		}
		attempt++
		d, again, err := g.explain(ctx, tx, nj, id, res, now)
		if err != nil {
			g.Forget(ctx, nj.Institution, id)
			return nil, err
		}
		if again {
			g.Forget(ctx, nj.Institution, id)
			continue
		}
		job, err := insert(ctx, tx, nj, d)
		switch {
		case errors.Is(err, jobs.ErrStaleEpoch):
			// Redis was rebuilt since this decision: take it again on the new copy.
			g.cfg.Logger.Info("guard decision refused: epoch changed; deciding again", "job", id, "epoch", d.Epoch)
			g.Forget(ctx, nj.Institution, id)
			continue
		case errors.Is(err, jobs.ErrGuardBackstop):
			return g.overruled(ctx, tx, nj, r, d, insert, err)
		case err != nil:
			g.Forget(ctx, nj.Institution, id)
			return nil, err
		}
		return job, nil
	}
}

// explain turns the Lua step's answer into a decision. A SKIP or PENDING
// names blockers: each is checked in PostgreSQL, for its status in the
// message and because the copy may be behind: a blocker that has ended, or
// a lease older than the grace period whose job never committed, is
// released and the decision taken again (again = true).
func (g *Guard) explain(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, id int64, res []string, now time.Time) (d jobs.Decision, again bool, err error) {
	if len(res) < 2 {
		return d, false, fmt.Errorf("guard step in Redis: short answer %q", res)
	}
	epoch, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return d, false, fmt.Errorf("guard step in Redis: epoch %q: %w", res[1], err)
	}
	d = jobs.Decision{ID: id, Epoch: epoch}
	var named map[int64]lease
	switch res[0] {
	case "START":
		d.Status = jobs.Queued
		return d, false, nil
	case "SKIP":
		if len(res) != 6 {
			return d, false, fmt.Errorf("guard step in Redis: bad SKIP %q", res)
		}
		named, err = parsePairs([]string{res[2], res[4] + "|" + res[3] + "|" + res[5]})
	case "PENDING":
		named, err = parsePairs(res[2:])
	default:
		err = fmt.Errorf("guard step in Redis: unexpected answer %q", res)
	}
	if err != nil {
		return d, false, err
	}
	blockers, stale, err := g.verify(ctx, tx, named, now)
	if err != nil {
		return d, false, err
	}
	if len(stale) > 0 {
		g.cfg.Logger.Info("guard copy named jobs that hold nothing; released them", "institution", nj.Institution, "jobs", stale)
		g.Forget(ctx, nj.Institution, stale...)
		return d, true, nil
	}
	if res[0] == "SKIP" {
		o := blockers[0]
		what := "a conflicting job"
		if o.typ == nj.Type && nj.SingleInstance {
			what = "another instance"
		}
		s := skip(nj.Type, what, o)
		d.Status, d.Message = s.Status, s.Message
		return d, false, nil
	}
	d.Status = jobs.Pending
	d.WaitingFor = ids(blockers)
	d.Message = "waiting for " + describe(blockers)
	return d, false, nil
}

// parsePairs reads (id, lease value) pairs of a Lua answer.
func parsePairs(kv []string) (map[int64]lease, error) {
	out := make(map[int64]lease, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		id, err := strconv.ParseInt(kv[i], 10, 64)
		l, ok := parseLease(kv[i+1])
		if err != nil || !ok {
			return nil, fmt.Errorf("guard copy in Redis: bad entry %q = %q", kv[i], kv[i+1])
		}
		out[id] = l
	}
	return out, nil
}

// verify looks up the jobs the copy named in PostgreSQL. It returns, in id
// order, those that still hold their place (unfinished jobs, and leases of
// jobs not committed yet but within the grace period), and the ids of the
// rest: jobs that ended, and leases older than the grace period.
func (g *Guard) verify(ctx context.Context, q jobs.DBTX, named map[int64]lease, now time.Time) (hold []other, stale []int64, err error) {
	want := make([]int64, 0, len(named))
	for id := range named {
		want = append(want, id)
	}
	rows, err := q.Query(ctx, `SELECT id, type, status, coalesce(started_at, submitted_at) FROM jobs WHERE id = ANY($1)`, want)
	if err != nil {
		return nil, nil, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (other, error) {
		var o other
		return o, r.Scan(&o.id, &o.typ, &o.status, &o.started)
	})
	if err != nil {
		return nil, nil, err
	}
	seen := map[int64]bool{}
	for _, o := range found {
		seen[o.id] = true
		if slices.Contains(unfinished, string(o.status)) {
			hold = append(hold, o)
		} else {
			stale = append(stale, o.id)
		}
	}
	for id, l := range named {
		if seen[id] {
			continue
		}
		if now.Sub(l.since) > g.cfg.LeaseGrace {
			stale = append(stale, id)
			continue
		}
		st := jobs.Queued
		if l.state == "P" {
			st = jobs.Pending
		}
		hold = append(hold, other{id: id, typ: l.typ, status: st, started: l.since})
	}
	slices.SortFunc(hold, func(a, b other) int { return cmpInt(a.id, b.id) })
	slices.Sort(stale)
	return hold, stale, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// overruled handles a decision PostgreSQL's backstop refused: the copy in
// Redis missed a live job. The insert is rolled back to the savepoint, the
// decision taken again in PostgreSQL alone (under the institution's lock),
// and the copy repaired: the job's lease follows the new decision and the
// blocker PostgreSQL found is put back.
func (g *Guard) overruled(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, r config.Rules, d jobs.Decision,
	insert jobs.InsertFunc, cause error) (*jobs.Job, error) {
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+savepoint); err != nil {
		return nil, errors.Join(cause, err)
	}
	g.cfg.Logger.Warn("guard copy in Redis disagreed with PostgreSQL; decided in PostgreSQL and repairing the copy",
		"job", d.ID, "institution", nj.Institution, "type", nj.Type, "err", cause)
	g.Forget(ctx, nj.Institution, d.ID)
	pd, err := g.decidePG(ctx, tx, nj, r)
	if err != nil {
		return nil, err
	}
	pd.ID = d.ID
	job, err := insert(ctx, tx, nj, pd)
	if err != nil {
		return nil, err
	}
	var puts []any
	if pd.Status != jobs.Skipped {
		puts = append(puts, d.ID, "", lease{state: stateOf(pd.Status), typ: nj.Type, since: g.cfg.Now()}.value())
	}
	others, err := lockAndList(ctx, tx, nj.Institution)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.id != d.ID {
			puts = append(puts, o.id, "", lease{state: stateOf(o.status), typ: o.typ, since: g.cfg.Now()}.value())
		}
	}
	if len(puts) > 0 {
		if _, err := g.run(ctx, nj.Institution, append([]any{"put", d.Epoch}, puts...)...); err != nil {
			g.cfg.Logger.Warn("guard copy not repaired; the reconciler will", "institution", nj.Institution, "err", err)
		}
	}
	return job, nil
}

// Forget removes jobs from the institution's copy: a job that ended, or a
// decision whose transaction did not commit. Best effort: the reconciler
// repairs what a failure here leaves behind.
func (g *Guard) Forget(ctx context.Context, institution string, ids ...int64) {
	if g.rdb == nil || len(ids) == 0 {
		return
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, "release")
	for _, id := range ids {
		args = append(args, id)
	}
	if _, err := g.run(ctx, institution, args...); err != nil && !errors.Is(err, ErrLost) {
		g.cfg.Logger.Warn("guard copy: jobs not released; the reconciler will", "institution", institution, "jobs", ids, "err", err)
	}
}

// promoteRedis is Promote with the Redis copy: the engine's pass over the
// institution's PENDING jobs runs under the institution's PostgreSQL lock;
// each job PostgreSQL finds unblocked is promoted in Redis by one Lua step
// (which sees the leases of submissions not yet committed), then in
// PostgreSQL under the same epoch, where the backstop has the last word.
func (g *Guard) promoteRedis(ctx context.Context, store *jobs.Store, institution string) (int, error) {
	moved := 0
	var flipped []lease
	var flippedIDs []int64
	err := pgx.BeginFunc(ctx, store.Pool, func(tx pgx.Tx) error {
		others, err := lockAndList(ctx, tx, institution)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(others, func(o other) bool { return o.status == jobs.Pending }) {
			return nil
		}
		var epoch int64
		if err := tx.QueryRow(ctx, `SELECT epoch FROM guard_epoch FOR KEY SHARE`).Scan(&epoch); err != nil {
			return err
		}
		for i, o := range others {
			if o.status != jobs.Pending {
				continue
			}
			r := g.Catalog.Rules(institution, o.typ)
			waits := waitingFor(r, others, o.id)
			blocked := len(waits) > 0
			for _, x := range others {
				if x.id != o.id && x.status != jobs.Pending && slices.Contains(r.Conflicts, x.typ) {
					blocked = true
				}
			}
			if blocked {
				if _, err := tx.Exec(ctx, `UPDATE jobs SET waiting_for = $2 WHERE id = $1`, o.id, ids(waits)); err != nil {
					return err
				}
				continue
			}
			l, ok, err := g.promoteOne(ctx, tx, institution, o, r, epoch)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			flipped, flippedIDs = append(flipped, l), append(flippedIDs, o.id)
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, `UPDATE jobs SET waiting_for = '{}', guard_epoch = $2 WHERE id = $1`, o.id, epoch); err != nil {
				return err
			}
			err = store.Transition(ctx, sp, o.id, jobs.Queued, "predecessors finished")
			if errors.Is(err, jobs.ErrGuardBackstop) {
				g.cfg.Logger.Warn("guard copy in Redis disagreed with PostgreSQL; job stays PENDING", "job", o.id, "err", err)
				if rerr := sp.Rollback(ctx); rerr != nil {
					return rerr
				}
				g.unflip(ctx, institution, epoch, []int64{o.id}, []lease{l})
				flipped, flippedIDs = flipped[:len(flipped)-1], flippedIDs[:len(flippedIDs)-1]
				continue
			}
			if err != nil {
				return err
			}
			if err := sp.Commit(ctx); err != nil {
				return err
			}
			others[i].status = jobs.Queued // later jobs in this pass see it
			moved++
		}
		return nil
	})
	if err != nil {
		g.unflip(context.WithoutCancel(ctx), institution, 0, flippedIDs, flipped)
		return 0, err
	}
	return moved, nil
}

// promoteOne asks the copy whether o may start and, if so, marks it
// admitted there (the returned lease). Blockers the copy names that hold
// nothing any more are released and the question asked again.
func (g *Guard) promoteOne(ctx context.Context, tx pgx.Tx, institution string, o other, r config.Rules, epoch int64) (lease, bool, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		now := g.cfg.Now()
		res, err := g.run(ctx, institution, "promote", o.id, o.typ, now.UnixMilli(), csv(r.Conflicts), csv(r.WaitsFor))
		if err != nil {
			return lease{}, false, err
		}
		switch res[0] {
		case "OK":
			if res[1] != strconv.FormatInt(epoch, 10) {
				l := lease{state: "A", typ: o.typ, since: now}
				g.unflip(ctx, institution, 0, []int64{o.id}, []lease{l})
				return lease{}, false, fmt.Errorf("institution %s: guard copy has epoch %s, PostgreSQL %d: %w", institution, res[1], epoch, jobs.ErrStaleEpoch)
			}
			return lease{state: "A", typ: o.typ, since: now}, true, nil
		case "MISSING":
			// PostgreSQL has a PENDING job the copy lacks: put it back.
			if _, err := g.run(ctx, institution, "put", epoch, o.id, "", lease{state: "P", typ: o.typ, since: now}.value()); err != nil {
				return lease{}, false, err
			}
		case "BLOCKED":
			named, err := parsePairs(res[2:])
			if err != nil {
				return lease{}, false, err
			}
			_, stale, err := g.verify(ctx, tx, named, now)
			if err != nil {
				return lease{}, false, err
			}
			if len(stale) == 0 {
				return lease{}, false, nil // a submission not yet committed blocks it
			}
			g.Forget(ctx, institution, stale...)
		default:
			return lease{}, false, fmt.Errorf("guard step in Redis: unexpected answer %q", res)
		}
	}
	return lease{}, false, nil
}

// unflip turns leases promote set back to PENDING, where they still hold
// exactly what promote wrote (epoch 0: whatever the copy's epoch is).
func (g *Guard) unflip(ctx context.Context, institution string, epoch int64, idList []int64, ls []lease) {
	if len(idList) == 0 {
		return
	}
	if epoch == 0 {
		res, err := g.rdb.HGet(ctx, g.key(institution), "epoch").Result()
		if err != nil {
			return
		}
		epoch, _ = strconv.ParseInt(res, 10, 64)
	}
	args := []any{"put", epoch}
	for i, id := range idList {
		back := ls[i]
		back.state = "P"
		args = append(args, id, ls[i].value(), back.value())
	}
	if _, err := g.run(ctx, institution, args...); err != nil && !errors.Is(err, ErrLost) {
		g.cfg.Logger.Warn("guard copy: promotions not undone; the reconciler will", "institution", institution, "jobs", idList, "err", err)
	}
}
