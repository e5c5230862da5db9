package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
)

func (s *Server) routeCapacity() {
	s.mux.Handle("GET /api/v1/capacity", s.authed(s.capacity))
	s.mux.Handle("POST /api/v1/jobs/{id}/priority", s.acting(s.setPriority))
}

// PriorityRequest is the body of POST /api/v1/jobs/{id}/priority.
type PriorityRequest struct {
	Priority string `json:"priority"` // high | normal | low
}

// setPriority lets an operator move a job to another class: high runs in
// the critical queue (never capped), low in bulk, normal in its type's class.
func (s *Server) setPriority(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if p.Role != auth.RoleOperator {
		writeError(w, http.StatusForbidden, "only an operator token may change a job's priority")
		return
	}
	job, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	var req PriorityRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	jt, ok := s.d.Catalog.JobType(job.Type)
	if !ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("job %d has type %q, which the configuration no longer declares", job.ID, job.Type))
		return
	}
	class, err := s.d.Catalog.ClassFor(jt, req.Priority)
	if err != nil {
		writeError(w, http.StatusBadRequest, "priority: "+err.Error())
		return
	}
	updated, err := s.d.Store.SetPriority(r.Context(), job.ID, req.Priority, class)
	if errors.Is(err, jobs.ErrNotFound) {
		writeError(w, http.StatusConflict, fmt.Sprintf("job %d is %s: a finished job's priority cannot change", job.ID, job.Status))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("job priority changed", "job", job.ID, "priority", req.Priority, "class", class, "by", p.User)
	s.wake(r)
	writeJSON(w, http.StatusOK, updated)
}

// capacity answers the engine leader's latest capacity report, narrowed to
// the institutions the caller may see.
func (s *Server) capacity(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	raw, err := s.ping.Get(r.Context(), fair.CapacityKey).Bytes()
	if errors.Is(err, redis.Nil) {
		writeError(w, http.StatusServiceUnavailable, "no engine leader has reported capacity in the last 10 s (is a `bindery server` running and connected to PostgreSQL?)")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var rep fair.Capacity
	if err := json.Unmarshal(raw, &rep); err != nil {
		s.internal(w, r, fmt.Errorf("capacity report in Redis: %w", err))
		return
	}
	visible := s.visibleInstitutions(p)
	rep.Institutions = slices.DeleteFunc(rep.Institutions, func(ic fair.InstitutionCapacity) bool {
		return !slices.Contains(visible, ic.Institution)
	})
	writeJSON(w, http.StatusOK, rep)
}
