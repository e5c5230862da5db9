// Package api is Bindery's HTTP API: jobs (submit, list, show, abort,
// report), health and readiness, Prometheus metrics and the asynqmon
// dashboard, all behind token authentication. Authorization lives here and
// only here: the CLI is a client of this API.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/metrics"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/schedule"
	"github.com/bindery/bindery/pkg/workflow"
)

// Aborter ends a job USER_ABORTED (the engine).
type Aborter interface {
	Abort(ctx context.Context, jobID int64, by string) error
}

// Deps is what the API needs.
type Deps struct {
	Catalog *config.Config
	Store   *jobs.Store
	Tokens  *auth.Tokens
	Aborter Aborter
	Redis   asynq.RedisConnOpt
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// Server is the HTTP handler tree.
type Server struct {
	d     Deps
	mux   *http.ServeMux
	ping  *redis.Client
	monRW http.Handler
	monRO http.Handler
	guard *guard.Guard
	sched *schedule.Scheduler
	flow  *workflow.Runner
	waker *queue.Waker
	log   *slog.Logger
}

// MonitoringPath is where asynqmon is mounted.
const MonitoringPath = "/monitoring"

// New builds the handler tree.
func New(d Deps) (*Server, error) {
	if d.Catalog == nil || d.Store == nil || d.Tokens == nil || d.Aborter == nil || d.Redis == nil {
		return nil, errors.New("api: Catalog, Store, Tokens, Aborter and Redis are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	s := &Server{d: d, mux: http.NewServeMux(), log: d.Logger.With("component", "api")}
	s.ping = d.Redis.MakeRedisClient().(*redis.Client)
	g, err := guard.New(d.Catalog, s.ping, guard.Config{Logger: d.Logger.With("component", "guard")})
	if err != nil {
		return nil, err
	}
	s.guard = g
	s.sched = &schedule.Scheduler{Store: d.Store, Catalog: d.Catalog, Guard: s.guard}
	s.flow = &workflow.Runner{Store: d.Store, Catalog: d.Catalog, Guard: s.guard}
	s.waker = queue.NewWaker(d.Redis)
	s.monRW = asynqmon.New(asynqmon.Options{RootPath: MonitoringPath, RedisConnOpt: d.Redis})
	s.monRO = asynqmon.New(asynqmon.Options{RootPath: MonitoringPath, RedisConnOpt: d.Redis, ReadOnly: true})

	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	s.mux.Handle(MonitoringPath+"/", s.authed(s.monitoring))
	s.mux.Handle("GET "+MonitoringPath, http.RedirectHandler(MonitoringPath+"/", http.StatusMovedPermanently))

	s.mux.Handle("GET /api/v1/whoami", s.authed(s.whoami))
	s.mux.Handle("GET /api/v1/job-types", s.authed(s.jobTypes))
	s.mux.Handle("POST /api/v1/jobs", s.acting(s.submit))
	s.mux.Handle("POST "+UploadPath, s.acting(s.upload))
	s.mux.Handle("GET /api/v1/jobs", s.authed(s.list))
	s.mux.Handle("GET /api/v1/jobs/{id}", s.authed(s.show))
	s.mux.Handle("POST /api/v1/jobs/{id}/abort", s.acting(s.abort))
	s.mux.Handle("GET /api/v1/jobs/{id}/report", s.authed(s.report))
	s.routeSchedules()
	s.routeWorkflow()
	s.routeSets()
	s.routeFiles()
	s.routeCapacity()
	return s, nil
}

// Close releases the API's Redis connections.
func (s *Server) Close() error { return errors.Join(s.ping.Close(), s.waker.Close()) }

// wake tells the engine leader there is new work (best effort; it also ticks).
func (s *Server) wake(r *http.Request) { s.waker.Wake(r.Context()) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "redis": "ok"}
	ready := true
	if err := s.d.Store.Pool.Ping(ctx); err != nil {
		checks["postgres"], ready = err.Error(), false
	}
	if err := s.ping.Ping(ctx).Err(); err != nil {
		checks["redis"], ready = err.Error(), false
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, checks)
}

// monitoring serves asynqmon: operators may act (retry, delete, pause),
// network monitors only look; every other caller is refused.
func (s *Server) monitoring(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	switch p.Role {
	case auth.RoleOperator:
		s.monRW.ServeHTTP(w, r)
	case auth.RoleNetworkMonitor:
		s.monRO.ServeHTTP(w, r)
	default:
		challenge(w)
		writeError(w, http.StatusUnauthorized, "the queue dashboard needs an operator or network-monitor token")
	}
}

type authedHandler func(http.ResponseWriter, *http.Request, *auth.Principal)

// authed resolves the bearer token (or, for browsers at /monitoring, the
// Basic-auth password) into a principal, or answers 401.
func (s *Server) authed(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if v := r.Header.Get("Authorization"); strings.HasPrefix(v, "Bearer ") {
			token = strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))
		} else if _, pw, ok := r.BasicAuth(); ok {
			token = pw
		}
		p, err := s.d.Tokens.Lookup(r.Context(), token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			if strings.HasPrefix(r.URL.Path, MonitoringPath) {
				challenge(w)
			}
			writeError(w, http.StatusUnauthorized, "authentication required: "+err.Error())
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		h(w, r, p)
	})
}

// acting is authed for routes that act for an institution (run, abort,
// change): a network-monitor token watches every member but acts for none.
func (s *Server) acting(h authedHandler) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
		if p.Role == auth.RoleNetworkMonitor {
			writeError(w, http.StatusForbidden, "a network-monitor token may watch jobs and schedules but not run, abort or change them on behalf of an institution")
			return
		}
		h(w, r, p)
	})
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="bindery (user: anything, password: your API token)"`)
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, guard.ErrLost) {
		// Redis lost the guard's state; the reconciler is rebuilding it.
		s.log.Warn("request refused while the guard's state is rebuilt", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the dependency guard's state in Redis is being rebuilt from PostgreSQL; retry in a few seconds")
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; see the server log")
}

// ErrorBody is every error answer's shape.
type ErrorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
