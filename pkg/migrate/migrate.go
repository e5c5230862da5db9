// Package migrate applies Bindery's numbered SQL migrations, embedded in the
// binary, up and down. Each migration runs in its own transaction together
// with its bookkeeping row, under an advisory lock so concurrent servers
// starting at once do not race.
package migrate

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed sql/*.sql
var files embed.FS

// lockKey is the advisory lock held while migrating ("bindery-migrate").
const lockKey = 0x62696e646572

// Migration is one numbered step.
type Migration struct {
	Version int
	Name    string
	Up      string
	Down    string
}

// State is one migration and whether it is applied.
type State struct {
	Migration
	AppliedAt *time.Time
}

var fileName = regexp.MustCompile(`^(\d+)_([a-z0-9_]+)\.(up|down)\.sql$`)

// All returns the embedded migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, "sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*Migration{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrate: bad file name %q", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := files.ReadFile("sql/" + e.Name())
		if err != nil {
			return nil, err
		}
		mig := byVersion[v]
		if mig == nil {
			mig = &Migration{Version: v, Name: m[2]}
			byVersion[v] = mig
		}
		if m[3] == "up" {
			mig.Up = string(body)
		} else {
			mig.Down = string(body)
		}
	}
	var out []Migration
	for _, m := range byVersion {
		if m.Up == "" || m.Down == "" {
			return nil, fmt.Errorf("migrate: version %d needs both up and down files", m.Version)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// withState runs fn under the migration lock with every embedded migration
// and the versions already applied.
func withState(ctx context.Context, pool *pgxpool.Pool, fn func(conn *pgxpool.Conn, all []Migration, have map[int]time.Time) error) error {
	all, err := All()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	have, err := applied(ctx, conn)
	if err != nil {
		return err
	}
	return fn(conn, all, have)
}

func applied(ctx context.Context, conn *pgxpool.Conn) (map[int]time.Time, error) {
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		out[v] = at
	}
	return out, rows.Err()
}

// run executes one migration's SQL and its bookkeeping in one transaction.
func run(ctx context.Context, conn *pgxpool.Conn, m Migration, direction, sql, bookkeeping string, args ...any) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, bookkeeping, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %s %04d_%s: %w", direction, m.Version, m.Name, err)
	}
	return nil
}

// Up applies every migration not yet applied and returns those it applied.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]Migration, error) {
	var done []Migration
	err := withState(ctx, pool, func(conn *pgxpool.Conn, all []Migration, have map[int]time.Time) error {
		for _, m := range all {
			if _, ok := have[m.Version]; ok {
				continue
			}
			if err := run(ctx, conn, m, "up", m.Up, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return err
			}
			done = append(done, m)
		}
		return nil
	})
	return done, err
}

// Down rolls back the most recent steps applied migrations.
func Down(ctx context.Context, pool *pgxpool.Pool, steps int) ([]Migration, error) {
	var done []Migration
	err := withState(ctx, pool, func(conn *pgxpool.Conn, all []Migration, have map[int]time.Time) error {
		for i := len(all) - 1; i >= 0 && len(done) < steps; i-- {
			m := all[i]
			if _, ok := have[m.Version]; !ok {
				continue
			}
			if err := run(ctx, conn, m, "down", m.Down, `DELETE FROM schema_migrations WHERE version = $1`, m.Version); err != nil {
				return err
			}
			done = append(done, m)
		}
		return nil
	})
	return done, err
}

// Status lists every migration and when it was applied (nil: pending).
func Status(ctx context.Context, pool *pgxpool.Pool) ([]State, error) {
	var out []State
	err := withState(ctx, pool, func(_ *pgxpool.Conn, all []Migration, have map[int]time.Time) error {
		for _, m := range all {
			s := State{Migration: m}
			if at, ok := have[m.Version]; ok {
				s.AppliedAt = &at
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}
