package guard

import (
	"cmp"
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
		ok, err := g.rdb.HExists(ctx, g.marker(institution), "epoch").Result()
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

// marker is an institution's marker hash (its "epoch" field); typeKey is
// its hash of one job type's jobs. The braces keep an institution's keys in
// one cluster slot, as a Lua step needs.
func (g *Guard) marker(institution string) string { return g.cfg.KeyPrefix + "{" + institution + "}" }

func (g *Guard) typeKey(institution, jobType string) string {
	return g.marker(institution) + ":" + jobType
}

// run runs one guard operation on keys (EVALSHA; on NOSCRIPT, after Redis
// lost its scripts, go-redis sends the script again with EVAL).
func (g *Guard) run(ctx context.Context, institution string, keys []string, args ...any) ([]string, error) {
	out, err := g.script.Run(ctx, g.rdb, keys, args...).StringSlice()
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

// ruleKeys are the keys of a decide or promote step for a job of jobType
// with rules r: the marker, the type's own hash, then the hash of every type
// the rules name, with its roles (c conflicts, w waits for).
func (g *Guard) ruleKeys(institution, jobType string, r config.Rules) ([]string, string) {
	roles := map[string]string{}
	for _, c := range r.Conflicts {
		roles[c] += "c"
	}
	for _, w := range r.WaitsFor {
		roles[w] += "w"
	}
	types := make([]string, 0, len(roles))
	for t := range roles {
		types = append(types, t)
	}
	slices.Sort(types)
	keys := []string{g.marker(institution), g.typeKey(institution, jobType)}
	rs := make([]string, len(types))
	for i, t := range types {
		keys = append(keys, g.typeKey(institution, t))
		rs[i] = roles[t]
	}
	return keys, strings.Join(rs, ",")
}

// tracked reports whether jobs of jobType need a place in the copy at the
// institution: its rules say something, or another type's rules name it.
// A job of an untracked type starts without a Lua step: nothing can block
// it and it blocks nothing.
func (g *Guard) tracked(institution, jobType string, r config.Rules) bool {
	if r.SingleInstance || len(r.Conflicts) > 0 || len(r.WaitsFor) > 0 {
		return true // conflicts are symmetric: a type named in one has it too
	}
	for i := range g.Catalog.JobTypes {
		if slices.Contains(g.Catalog.Rules(institution, g.Catalog.JobTypes[i].ID).WaitsFor, jobType) {
			return true
		}
	}
	return false
}

// puts collects compare-and-set changes to an institution's copy.
type puts struct {
	keys []string
	at   map[string]int
	args []any
}

func (g *Guard) newPuts(institution string) *puts {
	return &puts{keys: []string{g.marker(institution)}, at: map[string]int{}}
}

// add sets job id of jobType from old ("" absent) to new ("" deleted).
func (p *puts) add(g *Guard, institution, jobType string, id int64, old, new string) {
	k := g.typeKey(institution, jobType)
	i, ok := p.at[k]
	if !ok {
		p.keys = append(p.keys, k)
		i = len(p.keys)
		p.at[k] = i
	}
	p.args = append(p.args, i, id, old, new)
}

// apply runs the changes under epoch (none if the copy's epoch differs).
func (g *Guard) apply(ctx context.Context, institution string, epoch int64, p *puts) error {
	if len(p.args) == 0 {
		return nil
	}
	res, err := g.run(ctx, institution, p.keys, append([]any{"put", epoch}, p.args...)...)
	if err == nil && res[0] != "OK" {
		err = fmt.Errorf("guard copy of %s: epoch %s, not %d", institution, res[1], epoch)
	}
	return err
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
	if !g.tracked(nj.Institution, nj.Type, r) {
		return insert(ctx, tx, nj, jobs.Decision{Status: jobs.Queued})
	}
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
	keys, roles := g.ruleKeys(nj.Institution, nj.Type, r)
	for attempt := 1; ; attempt++ {
		if attempt > maxAttempts {
			g.Forget(ctx, nj.Institution, nj.Type, id)
			return nil, fmt.Errorf("job %d: no stable guard decision after %d attempts", id, maxAttempts)
		}
		now := g.cfg.Now()
		res, err := g.run(ctx, nj.Institution, keys, "decide", id, nj.Type, now.UnixMilli(), boolArg(r.SingleInstance), roles)
		if err != nil {
			return nil, err
		}
		d, again, err := g.explain(ctx, tx, nj, id, res, now)
		if err != nil || again {
			g.Forget(ctx, nj.Institution, nj.Type, id)
			if err != nil {
				return nil, err
			}
			continue
		}
		job, err := insert(ctx, tx, nj, d)
		switch {
		case errors.Is(err, jobs.ErrStaleEpoch):
			// Redis was rebuilt since this decision: take it again on the new copy.
			g.cfg.Logger.Info("guard decision refused: epoch changed; deciding again", "job", id, "epoch", d.Epoch)
			g.Forget(ctx, nj.Institution, nj.Type, id)
			continue
		case errors.Is(err, jobs.ErrGuardBackstop):
			return g.overruled(ctx, tx, nj, r, d, insert, err)
		case err != nil:
			g.Forget(ctx, nj.Institution, nj.Type, id)
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
	case "SKIP", "PENDING":
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
		g.release(ctx, nj.Institution, named, stale)
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

// release forgets the stale ones of the named jobs, by type.
func (g *Guard) release(ctx context.Context, institution string, named map[int64]lease, stale []int64) {
	byType := map[string][]int64{}
	for _, id := range stale {
		byType[named[id].typ] = append(byType[named[id].typ], id)
	}
	for t, list := range byType {
		g.Forget(ctx, institution, t, list...)
	}
}

// parsePairs reads (id, lease value) pairs of a Lua answer.
func parsePairs(kv []string) (map[int64]lease, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("guard copy in Redis: odd answer %q", kv)
	}
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
	slices.SortFunc(hold, func(a, b other) int { return cmp.Compare(a.id, b.id) })
	slices.Sort(stale)
	return hold, stale, nil
}

// overruled handles a decision PostgreSQL's backstop refused: the copy in
// Redis missed a live job. The insert is rolled back to the savepoint, the
// decision taken again in PostgreSQL alone (under the institution's lock),
// and the copy repaired: the job's lease follows the new decision and the
// jobs PostgreSQL holds unfinished are put back.
func (g *Guard) overruled(ctx context.Context, tx pgx.Tx, nj jobs.NewJob, r config.Rules, d jobs.Decision,
	insert jobs.InsertFunc, cause error) (*jobs.Job, error) {
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT `+savepoint); err != nil {
		return nil, errors.Join(cause, err)
	}
	g.cfg.Logger.Warn("guard copy in Redis disagreed with PostgreSQL; decided in PostgreSQL and repairing the copy",
		"job", d.ID, "institution", nj.Institution, "type", nj.Type, "err", cause)
	g.Forget(ctx, nj.Institution, nj.Type, d.ID)
	pd, err := g.decidePG(ctx, tx, nj, r)
	if err != nil {
		return nil, err
	}
	pd.ID = d.ID
	job, err := insert(ctx, tx, nj, pd)
	if err != nil {
		return nil, err
	}
	now := g.cfg.Now()
	p := g.newPuts(nj.Institution)
	if pd.Status != jobs.Skipped {
		p.add(g, nj.Institution, nj.Type, d.ID, "", lease{state: stateOf(pd.Status), typ: nj.Type, since: now}.value())
	}
	others, err := lockAndList(ctx, tx, nj.Institution)
	if err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.id != d.ID && g.tracked(nj.Institution, o.typ, g.Catalog.Rules(nj.Institution, o.typ)) {
			p.add(g, nj.Institution, o.typ, o.id, "", lease{state: stateOf(o.status), typ: o.typ, since: now}.value())
		}
	}
	if err := g.apply(ctx, nj.Institution, d.Epoch, p); err != nil {
		g.cfg.Logger.Warn("guard copy not repaired; the reconciler will", "institution", nj.Institution, "err", err)
	}
	return job, nil
}

// Forget removes jobs of jobType from the institution's copy: jobs that
// ended, or decisions whose transaction did not commit. Best effort: the
// reconciler repairs what a failure here leaves behind.
func (g *Guard) Forget(ctx context.Context, institution, jobType string, ids ...int64) {
	if g.rdb == nil || len(ids) == 0 {
		return
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, "release")
	for _, id := range ids {
		args = append(args, id)
	}
	keys := []string{g.marker(institution), g.typeKey(institution, jobType)}
	if _, err := g.run(ctx, institution, keys, args...); err != nil && !errors.Is(err, ErrLost) {
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
	var flipped []other
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
			held, err := holdIfBlocked(ctx, tx, r, others, o)
			if err != nil {
				return err
			}
			if held {
				continue
			}
			at, ok, err := g.promoteOne(ctx, tx, institution, o, r, epoch)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			o.started = at
			flipped = append(flipped, o)
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
				g.unflip(ctx, institution, epoch, flipped[len(flipped)-1:])
				flipped = flipped[:len(flipped)-1]
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
		g.unflip(context.WithoutCancel(ctx), institution, 0, flipped)
		return 0, err
	}
	return moved, nil
}

// promoteOne asks the copy whether o may start and, if so, marks it
// admitted there at the returned time. Blockers the copy names that hold
// nothing any more are released and the question asked again.
func (g *Guard) promoteOne(ctx context.Context, tx pgx.Tx, institution string, o other, r config.Rules, epoch int64) (time.Time, bool, error) {
	keys, roles := g.ruleKeys(institution, o.typ, r)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		now := g.cfg.Now()
		res, err := g.run(ctx, institution, keys, "promote", o.id, o.typ, now.UnixMilli(), roles)
		if err != nil {
			return now, false, err
		}
		switch res[0] {
		case "OK":
			if res[1] != strconv.FormatInt(epoch, 10) {
				o.started = now
				g.unflip(ctx, institution, 0, []other{o})
				return now, false, fmt.Errorf("institution %s: guard copy has epoch %s, PostgreSQL %d: %w", institution, res[1], epoch, jobs.ErrStaleEpoch)
			}
			return now, true, nil
		case "MISSING":
			// PostgreSQL has a PENDING job the copy lacks: put it back.
			p := g.newPuts(institution)
			p.add(g, institution, o.typ, o.id, "", lease{state: "P", typ: o.typ, since: now}.value())
			if err := g.apply(ctx, institution, epoch, p); err != nil {
				return now, false, err
			}
		case "BLOCKED":
			named, err := parsePairs(res[2:])
			if err != nil {
				return now, false, err
			}
			_, stale, err := g.verify(ctx, tx, named, now)
			if err != nil {
				return now, false, err
			}
			if len(stale) == 0 {
				return now, false, nil // a submission not yet committed blocks it
			}
			g.release(ctx, institution, named, stale)
		default:
			return now, false, fmt.Errorf("guard step in Redis: unexpected answer %q", res)
		}
	}
	return time.Time{}, false, nil
}

// unflip turns jobs promote marked admitted back to PENDING, where they
// still hold exactly what promote wrote (epoch 0: the copy's epoch).
func (g *Guard) unflip(ctx context.Context, institution string, epoch int64, list []other) {
	if len(list) == 0 {
		return
	}
	if epoch == 0 {
		res, err := g.rdb.HGet(ctx, g.marker(institution), "epoch").Result()
		if err != nil {
			return
		}
		epoch, _ = strconv.ParseInt(res, 10, 64)
	}
	p := g.newPuts(institution)
	for _, o := range list {
		l := lease{state: "A", typ: o.typ, since: o.started}
		back := l
		back.state = "P"
		p.add(g, institution, o.typ, o.id, l.value(), back.value())
	}
	if err := g.apply(ctx, institution, epoch, p); err != nil && !errors.Is(err, ErrLost) {
		g.cfg.Logger.Warn("guard copy: promotions not undone; the reconciler will", "institution", institution, "err", err)
	}
}
