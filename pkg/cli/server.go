package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/metrics"
	"github.com/bindery/bindery/pkg/migrate"
	"github.com/bindery/bindery/pkg/worker"
	"github.com/bindery/bindery/workers"
)

func newServerCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var addr string
	var noMigrate bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the producer service: HTTP API, engine, reconciler, dashboard",
		Long: `The server takes job submissions over HTTP, initializes jobs, feeds their chunks
to the workers through Redis (the admission controller), finalizes them and
reconciles the chunk ledger with Redis after crashes. Run several for
availability: one leads the engine (a PostgreSQL advisory lock), all serve the API.

Endpoints: /api/v1/... (bearer token), /monitoring (asynqmon; operator token, or
network-monitor read-only), /metrics (Prometheus), /healthz, /readyz.`,
		Example: `  bindery server
  BINDERY_ADDR=:8080 BINDERY_DATABASE_URL=postgres://... bindery server --no-migrate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			log := b.logger()
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			pool, err := b.pool(ctx, !noMigrate)
			if err != nil {
				return err
			}
			defer pool.Close()
			if !noMigrate {
				done, err := migrate.Up(ctx, pool)
				if err != nil {
					return err
				}
				for _, m := range done {
					log.Info("migration applied", "version", m.Version, "name", m.Name)
				}
			}
			redisOpt, err := b.redis()
			if err != nil {
				return err
			}
			m := metrics.New()
			store := jobs.NewStore(pool)
			eng, err := engine.New(store, redisOpt, engine.Config{Catalog: cat, Kinds: workers.KindsFor(cat), Logger: log, Metrics: m})
			if err != nil {
				return err
			}
			defer eng.Close()
			apiSrv, err := api.New(api.Deps{Catalog: cat, Store: store, Tokens: &auth.Tokens{Pool: pool},
				Aborter: eng, Redis: redisOpt, Metrics: m, Logger: log})
			if err != nil {
				return err
			}
			defer apiSrv.Close()

			listenAddr := b.pick(addr, "BINDERY_ADDR", DefaultAddr)
			ln, err := net.Listen("tcp", listenAddr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listenAddr, err)
			}
			httpSrv := &http.Server{Handler: apiSrv, ReadHeaderTimeout: 10 * time.Second}
			httpErr := make(chan error, 1)
			go func() { httpErr <- httpSrv.Serve(ln) }()
			engineDone := make(chan error, 1)
			go func() { engineDone <- eng.Run(ctx) }()
			log.Info("server listening", "addr", ln.Addr().String(), "monitoring", "http://"+ln.Addr().String()+api.MonitoringPath)

			select {
			case <-ctx.Done():
			case err := <-httpErr:
				if !errors.Is(err, http.ErrServerClosed) {
					stop()
					return err
				}
			}
			log.Info("server shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = httpSrv.Shutdown(sctx)
			<-engineDone
			log.Info("server stopped")
			return err
		},
	}
	b.flags(cmd, true)
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (env BINDERY_ADDR; default "+DefaultAddr+")")
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply pending migrations at start")
	return cmd
}

// workerGCPercent is the worker's GOGC unless the environment sets one.
const workerGCPercent = 200

func newWorkerCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var concurrency int
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker: executes chunk tasks from Redis",
		Long: `A worker is stateless: it takes chunk tasks from Redis and runs each in one
PostgreSQL transaction with its ledger row. Run any number, on any hosts; they
share only Redis and PostgreSQL. On SIGTERM in-flight chunks get 10 s to
commit; the rest roll back and are re-run elsewhere.`,
		Example: `  bindery worker --concurrency 8`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				// A chunk allocates its records anew and drops them all at
				// commit: collecting at twice the live heap instead of once
				// spent ~1/5 less worker CPU on a Metadata Import (RSS ~160 →
				// ~220 MB at --concurrency 4). GOGC set by the operator wins.
				debug.SetGCPercent(workerGCPercent)
			}
			// Every chunk holds a connection for its whole transaction; two
			// more keep heartbeats and start markers from starving behind
			// chunks that wait on locks (a starved heartbeat reads as death).
			pool, err := b.poolOf(ctx, false, int32(concurrency)+2)
			if err != nil {
				return err
			}
			defer pool.Close()
			redisOpt, err := b.redis()
			if err != nil {
				return err
			}
			wm := metrics.New()
			w, err := worker.New(jobs.NewStore(pool), redisOpt, worker.Config{
				Catalog: cat, Kinds: workers.KindsFor(cat), Concurrency: concurrency, Logger: b.logger(), Metrics: wm})
			if err != nil {
				return err
			}
			if addr := b.pick(metricsAddr, "BINDERY_WORKER_METRICS_ADDR", ""); addr != "" {
				stopMetrics, err := serveMetrics(addr, wm)
				if err != nil {
					return err
				}
				defer stopMetrics()
			}
			return w.Run(ctx)
		},
	}
	b.flags(cmd, true)
	cmd.Flags().IntVar(&concurrency, "concurrency", 4, "chunks processed at once by this worker")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve this worker's Prometheus metrics (chunks completed, queue wait, cap deferrals) at http://ADDR/metrics (env BINDERY_WORKER_METRICS_ADDR; default off)")
	return cmd
}
