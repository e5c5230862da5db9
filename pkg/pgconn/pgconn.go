// Package pgconn opens Bindery's PostgreSQL pool, creating the database on
// first use so a fresh machine needs no manual step.
package pgconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects to url; when create is set and the database does not exist,
// it is created first (through the server's "postgres" database). minConns,
// when above the pool's size (pgx: the number of CPUs, or pool_max_conns in
// the URL), raises it.
func Open(ctx context.Context, url string, create bool, minConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	cfg.MaxConns = max(cfg.MaxConns, minConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	err = pool.Ping(ctx)
	var pgErr *pgconn.PgError
	if create && errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		pool.Close()
		if err := createDatabase(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
		return Open(ctx, url, false, minConns)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s on %s:%d: %w", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

func createDatabase(ctx context.Context, target *pgx.ConnConfig) error {
	admin := target.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("create database %s: %w", target.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{target.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", target.Database, err)
	}
	return nil
}
