package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/pgconn"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/workers"
)

// Defaults for connection settings.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/bindery?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultAddr        = "127.0.0.1:8080"
	DefaultServer      = "http://127.0.0.1:8080"
	defaultConfigPath  = "config/bindery.yaml"
)

// backend are the settings of commands that talk to PostgreSQL, Redis or
// the configuration directly (server, worker, migrate, token, seed).
type backend struct {
	env         *Env
	configPath  string
	databaseURL string
	redisURL    string
	logLevel    string
}

func (b *backend) flags(cmd *cobra.Command, withRedis bool) {
	f := cmd.Flags()
	f.StringVar(&b.configPath, "config", "", "configuration file (env BINDERY_CONFIG; default config/bindery.yaml, else the built-in one)")
	f.StringVar(&b.databaseURL, "database-url", "", "PostgreSQL URL (env BINDERY_DATABASE_URL; default "+DefaultDatabaseURL+")")
	if withRedis {
		f.StringVar(&b.redisURL, "redis-url", "", "Redis URL (env BINDERY_REDIS_URL; default "+DefaultRedisURL+")")
	}
	f.StringVar(&b.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func (b *backend) pick(flag, envName, def string) string {
	if flag != "" {
		return flag
	}
	if v := b.env.Getenv(envName); v != "" {
		return v
	}
	return def
}

// catalog loads the configuration and checks every job type has code.
func (b *backend) catalog() (*config.Config, error) {
	path := b.pick(b.configPath, "BINDERY_CONFIG", "")
	var cfg *config.Config
	var err error
	switch {
	case path != "":
		cfg, err = config.Load(path)
	case fileExists(defaultConfigPath):
		cfg, err = config.Load(defaultConfigPath)
	default:
		cfg, err = config.Parse("(built-in config/bindery.yaml)", shipped.Default)
	}
	if err != nil {
		return nil, err
	}
	kinds := workers.Kinds()
	for i, jt := range cfg.JobTypes {
		if _, ok := kinds[jt.ID]; !ok {
			return nil, &config.FieldError{File: path, Field: fmt.Sprintf("job_types[%d].id", i),
				Problem: fmt.Sprintf("no implementation of job type %q in this binary", jt.ID)}
		}
	}
	return cfg, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func (b *backend) pool(ctx context.Context, create bool) (*pgxpool.Pool, error) {
	return b.poolOf(ctx, create, 0)
}

// poolOf opens a pool of at least minConns connections.
func (b *backend) poolOf(ctx context.Context, create bool, minConns int32) (*pgxpool.Pool, error) {
	return pgconn.Open(ctx, b.pick(b.databaseURL, "BINDERY_DATABASE_URL", DefaultDatabaseURL), create, minConns)
}

func (b *backend) redis() (asynq.RedisConnOpt, error) {
	return queue.RedisOpt(b.pick(b.redisURL, "BINDERY_REDIS_URL", DefaultRedisURL))
}

func (b *backend) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(b.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(b.env.Stderr, &slog.HandlerOptions{Level: lvl}))
}
