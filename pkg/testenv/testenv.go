// Package testenv gives tests their own PostgreSQL database and their own
// Redis server, created for the test and removed after it, so tests never
// touch data they did not make.
//
// PostgreSQL: BINDERY_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
// names the server; each call creates a fresh database there and drops it at
// cleanup. Redis: a throwaway redis-server on a free port when the binary is
// installed; otherwise BINDERY_TEST_REDIS_URL's server with a dedicated DB
// index (default 13), flushed with FLUSHDB only.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/migrate"
)

func adminURL() string {
	if u := os.Getenv("BINDERY_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database is a migrated database of the test's own.
type Database struct {
	URL  string
	Pool *pgxpool.Pool
}

// NewDatabase creates a fresh, migrated database and drops it at cleanup.
func NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		tb.Fatalf("testenv: PostgreSQL not reachable at %s (run `make services`): %v", adminURL(), err)
	}
	defer admin.Close(ctx)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "bindery_test_" + hex.EncodeToString(suffix)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("testenv: create database: %v", err)
	}
	cfg, err := pgx.ParseConfig(adminURL())
	if err != nil {
		tb.Fatal(err)
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), adminURL())
		if err != nil {
			tb.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("testenv: drop %s: %v", name, err)
		}
	})
	if _, err := migrate.Up(ctx, pool); err != nil {
		tb.Fatalf("testenv: migrate: %v", err)
	}
	return &Database{URL: url, Pool: pool}
}

// Redis is a Redis of the test's own.
type Redis struct {
	URL  string
	Addr string
	DB   int
	cmd  *exec.Cmd
}

// NewRedis starts a throwaway redis-server (or falls back to a dedicated DB
// index of an existing server) and stops it at cleanup.
func NewRedis(tb testing.TB) *Redis {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return sharedRedis(tb)
	}
	port := FreePort(tb)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.SysProcAttr = dieWithParent()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("testenv: start redis-server: %v", err)
	}
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	r.URL = "redis://" + r.Addr + "/0"
	tb.Cleanup(func() { r.Stop() })
	r.waitUp(tb)
	return r
}

func (r *Redis) waitUp(tb testing.TB) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, DB: r.DB})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return
		} else if time.Now().After(deadline) {
			tb.Fatalf("testenv: redis at %s did not come up: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Restart stops the throwaway server and starts an empty one on the same
// port: Redis "lost everything". It fails the test for a shared server.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	if r.cmd == nil {
		tb.Fatal("testenv: cannot restart a shared Redis")
	}
	args := r.cmd.Args
	r.Stop()
	r.cmd = exec.Command(args[0], args[1:]...)
	r.cmd.SysProcAttr = dieWithParent()
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("testenv: restart redis-server: %v", err)
	}
	r.waitUp(tb)
}

// Stop kills a throwaway server.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

func sharedRedis(tb testing.TB) *Redis {
	url := os.Getenv("BINDERY_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/13"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	r := &Redis{URL: url, Addr: opt.Addr, DB: opt.DB}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		tb.Fatalf("testenv: Redis not reachable at %s: %v", url, err)
	}
	return r
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond until it is true or the deadline passes.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
