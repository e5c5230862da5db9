package guard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/jobs"
)

// Repair says what one Reconcile did to the Redis copy.
type Repair struct {
	// Rebuilt: a copy was missing or carried a foreign epoch, so every
	// copy was rebuilt from PostgreSQL under the new Epoch.
	Rebuilt bool
	Epoch   int64
	// Released: leases of jobs that ended, or that never committed and are
	// older than the grace period, removed from the copy.
	Released []int64
	// Restored: unfinished jobs the copy lacked or held in the wrong state.
	Restored []int64
}

// Reconcile makes the Redis copy agree with PostgreSQL; the engine leader's
// reconciler calls it before it admits any work, and then periodically.
// If any institution's copy is missing (Redis lost its data) or carries
// another epoch than PostgreSQL, every copy is rebuilt from PostgreSQL under
// a new epoch (Rebuild). Otherwise drift is repaired: leases of ended jobs
// are released, as are leases of jobs that never committed (their server
// died between the Lua step and the commit) once older than the grace
// period, and unfinished jobs the copy lacks are put back.
func (g *Guard) Reconcile(ctx context.Context, store *jobs.Store) (Repair, error) {
	if g.rdb == nil {
		return Repair{}, nil
	}
	epoch, err := Epoch(ctx, store.Pool)
	if err != nil {
		return Repair{}, err
	}
	live, err := liveJobs(ctx, store.Pool)
	if err != nil {
		return Repair{}, err
	}
	insts := g.institutions(live)
	markers, err := g.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, in := range insts {
			p.HGet(ctx, g.marker(in), "epoch")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Repair{}, fmt.Errorf("guard copy: %w", err)
	}
	for i, in := range insts {
		if have := markers[i].(*redis.StringCmd).Val(); have != strconv.FormatInt(epoch, 10) {
			reason := "missing from Redis"
			if have != "" {
				reason = "epoch " + have + " in Redis, " + strconv.FormatInt(epoch, 10) + " in PostgreSQL"
			}
			e, err := g.Rebuild(ctx, store, fmt.Sprintf("institution %s: %s", in, reason))
			return Repair{Rebuilt: true, Epoch: e}, err
		}
	}
	return g.sweep(ctx, store, epoch, live, insts)
}

// liveJob is an unfinished job as the reconciler reads it.
type liveJob struct {
	id          int64
	institution string
	typ         string
	status      jobs.Status
}

func liveJobs(ctx context.Context, q jobs.DBTX) ([]liveJob, error) {
	rows, err := q.Query(ctx, `SELECT id, institution, type, status FROM jobs WHERE status = ANY($1) ORDER BY id`, unfinished)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (liveJob, error) {
		var j liveJob
		return j, r.Scan(&j.id, &j.institution, &j.typ, &j.status)
	})
}

// institutions are the configured ones and any other with unfinished jobs.
func (g *Guard) institutions(live []liveJob) []string {
	var out []string
	for _, in := range g.Catalog.Institutions {
		out = append(out, in.ID)
	}
	return withLive(out, live, func(j liveJob) string { return j.institution })
}

// withLive returns ids followed by the ids (of) of live jobs not among them.
func withLive(ids []string, live []liveJob, of func(liveJob) string) []string {
	for _, j := range live {
		if id := of(j); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Rebuild replaces every institution's copy with one built from the
// unfinished jobs in PostgreSQL, under a new epoch. It holds the epoch row
// FOR UPDATE throughout: decisions in flight on the old copy commit before
// it reads the jobs (and are in the new copy), or find the epoch changed and
// are taken again on the new copy.
func (g *Guard) Rebuild(ctx context.Context, store *jobs.Store, reason string) (int64, error) {
	if g.rdb == nil {
		return 0, errors.New("guard: no Redis copy to rebuild")
	}
	var epoch int64
	count := 0
	err := pgx.BeginFunc(ctx, store.Pool, func(tx pgx.Tx) error {
		// FOR UPDATE, not just UPDATE: a plain UPDATE would not wait for
		// the decisions' FOR KEY SHARE locks.
		if _, err := tx.Exec(ctx, `SELECT epoch FROM guard_epoch FOR UPDATE`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `UPDATE guard_epoch SET epoch = epoch + 1 RETURNING epoch`).Scan(&epoch); err != nil {
			return err
		}
		live, err := liveJobs(ctx, tx)
		if err != nil {
			return err
		}
		now := g.cfg.Now()
		insts, types := g.institutions(live), g.types(live)
		_, err = g.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, in := range insts {
				p.Del(ctx, g.marker(in))
				for _, t := range types {
					p.Del(ctx, g.typeKey(in, t))
				}
			}
			for _, j := range live {
				if g.tracked(j.institution, j.typ, g.Catalog.Rules(j.institution, j.typ)) {
					p.HSet(ctx, g.typeKey(j.institution, j.typ), j.id, lease{state: stateOf(j.status), typ: j.typ, since: now}.value())
					count++
				}
			}
			for _, in := range insts {
				p.HSet(ctx, g.marker(in), "epoch", epoch)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("guard copy: rebuild in Redis: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	g.cfg.Logger.Warn("guard state rebuilt in Redis from PostgreSQL", "reason", reason, "epoch", epoch, "guarded_jobs", count)
	return epoch, nil
}

// types are the configured job types and any other of an unfinished job.
func (g *Guard) types(live []liveJob) []string {
	var out []string
	for _, jt := range g.Catalog.JobTypes {
		out = append(out, jt.ID)
	}
	return withLive(out, live, func(j liveJob) string { return j.typ })
}

// sweep repairs drift between an intact copy and PostgreSQL (see Reconcile).
// Every change is a compare-and-set on what it read, under the epoch, so it
// never undoes a decision taken meanwhile.
func (g *Guard) sweep(ctx context.Context, store *jobs.Store, epoch int64, live []liveJob, insts []string) (Repair, error) {
	rep := Repair{Epoch: epoch}
	now := g.cfg.Now()
	type slot struct{ in, typ string }
	var slots []slot
	types := g.types(live)
	for _, in := range insts {
		for _, t := range types {
			if g.tracked(in, t, g.Catalog.Rules(in, t)) {
				slots = append(slots, slot{in, t})
			}
		}
	}
	cmds, err := g.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range slots {
			p.HGetAll(ctx, g.typeKey(s.in, s.typ))
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("guard copy: %w", err)
	}
	copies := map[slot]map[string]string{}
	for i, s := range slots {
		copies[s] = cmds[i].(*redis.MapStringStringCmd).Val()
	}
	inPG := make(map[int64]liveJob, len(live))
	for _, j := range live {
		inPG[j.id] = j
	}
	// Entries PostgreSQL did not list as unfinished: ended, committed
	// since, or never committed.
	var unknown []int64
	for _, h := range copies {
		for f := range h {
			if id, err := strconv.ParseInt(f, 10, 64); err == nil {
				if _, ok := inPG[id]; !ok {
					unknown = append(unknown, id)
				}
			}
		}
	}
	later := map[int64]jobs.Status{}
	if len(unknown) > 0 {
		rows, err := store.Pool.Query(ctx, `SELECT id, status FROM jobs WHERE id = ANY($1)`, unknown)
		if err != nil {
			return rep, err
		}
		var id int64
		var st jobs.Status
		if _, err := pgx.ForEachRow(rows, []any{&id, &st}, func() error { later[id] = st; return nil }); err != nil {
			return rep, err
		}
	}
	for _, in := range insts {
		p := g.newPuts(in)
		var released, restored []int64
		for _, s := range slots {
			if s.in != in {
				continue
			}
			h := copies[s]
			for f, v := range h {
				id, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					continue
				}
				l, ok := parseLease(v)
				j, unfinishedInPG := inPG[id]
				switch {
				case !ok:
					p.add(g, in, s.typ, id, v, "")
					released = append(released, id)
				case unfinishedInPG:
					if l.state == "P" && j.status != jobs.Pending {
						p.add(g, in, s.typ, id, v, lease{state: "A", typ: j.typ, since: now}.value())
						restored = append(restored, id)
					} else if l.state == "A" && j.status == jobs.Pending && now.Sub(l.since) > g.cfg.LeaseGrace {
						// A promotion in Redis whose transaction never committed.
						p.add(g, in, s.typ, id, v, lease{state: "P", typ: j.typ, since: now}.value())
						restored = append(restored, id)
					}
				default:
					st, exists := later[id]
					switch {
					case exists && slices.Contains(unfinished, string(st)):
						// Committed after the list was read: fine.
					case exists || now.Sub(l.since) > g.cfg.LeaseGrace:
						p.add(g, in, s.typ, id, v, "")
						released = append(released, id)
					}
				}
			}
		}
		for _, j := range live {
			if j.institution != in {
				continue
			}
			h, tracked := copies[slot{in, j.typ}]
			if !tracked {
				continue
			}
			if _, ok := h[strconv.FormatInt(j.id, 10)]; !ok {
				p.add(g, in, j.typ, j.id, "", lease{state: stateOf(j.status), typ: j.typ, since: now}.value())
				restored = append(restored, j.id)
			}
		}
		if len(released)+len(restored) == 0 {
			continue
		}
		err := g.apply(ctx, in, epoch, p)
		if errors.Is(err, ErrLost) {
			continue // the next pass rebuilds it
		}
		if err != nil {
			return rep, err
		}
		if len(released) > 0 {
			g.cfg.Logger.Info("guard leases released", "institution", in, "jobs", released)
		}
		if len(restored) > 0 {
			g.cfg.Logger.Warn("guard copy in Redis had drifted from PostgreSQL; repaired", "institution", in, "jobs", restored)
		}
		rep.Released = append(rep.Released, released...)
		rep.Restored = append(rep.Restored, restored...)
	}
	slices.Sort(rep.Released)
	slices.Sort(rep.Restored)
	return rep, nil
}

// Epoch returns the current guard epoch in PostgreSQL.
func Epoch(ctx context.Context, q jobs.DBTX) (int64, error) {
	var e int64
	err := q.QueryRow(ctx, `SELECT epoch FROM guard_epoch`).Scan(&e)
	return e, err
}
