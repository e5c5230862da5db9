package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/schedule"
)

func (s *Server) routeSchedules() {
	s.mux.Handle("GET /api/v1/schedules", s.authed(s.listSchedules))
	s.mux.Handle("GET /api/v1/schedules/{type}", s.authed(s.showSchedule))
	s.mux.Handle("PUT /api/v1/schedules/{type}", s.acting(s.setSchedule))
	s.mux.Handle("POST /api/v1/schedules/{type}/{action}", s.acting(s.scheduleAction))
}

// scheduleInstitution is the institution a schedule request is about: the
// token's own, or for network monitors the ?institution= of a member.
func (s *Server) scheduleInstitution(w http.ResponseWriter, r *http.Request, p *auth.Principal) (string, bool) {
	if p.Role != auth.RoleNetworkMonitor {
		return p.Institution, true
	}
	in := r.URL.Query().Get("institution")
	if in == "" || !slices.Contains(s.visibleInstitutions(p), in) {
		writeError(w, http.StatusBadRequest, "a network-monitor token must name a member institution (?institution=)")
		return "", false
	}
	return in, true
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	list, err := s.sched.List(r.Context(), s.visibleInstitutions(p))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) showSchedule(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	in, ok := s.scheduleInstitution(w, r, p)
	if !ok {
		return
	}
	sc, err := s.sched.Get(r.Context(), in, r.PathValue("type"))
	s.answerSchedule(w, r, sc, err)
}

func (s *Server) answerSchedule(w http.ResponseWriter, r *http.Request, sc *schedule.Schedule, err error) {
	var ve *schedule.ValidationError
	switch {
	case errors.Is(err, schedule.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no schedule for job type %q (create one with `bindery schedule set`)", r.PathValue("type")))
	case errors.As(err, &ve):
		writeError(w, http.StatusBadRequest, ve.Msg)
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, sc)
	}
}

func (s *Server) setSchedule(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req schedule.SetRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	sc, err := s.sched.Set(r.Context(), p.Institution, r.PathValue("type"), p.User, req)
	s.answerSchedule(w, r, sc, err)
}

func (s *Server) scheduleAction(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	typ := r.PathValue("type")
	switch r.PathValue("action") {
	case "enable", "disable":
		sc, err := s.sched.SetEnabled(r.Context(), p.Institution, typ, r.PathValue("action") == "enable")
		s.answerSchedule(w, r, sc, err)
	case "run-now":
		job, err := s.sched.RunNow(r.Context(), p.Institution, typ, p.User)
		if err != nil {
			s.answerSchedule(w, r, nil, err)
			return
		}
		s.wake(r)
		writeJSON(w, http.StatusCreated, job)
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown schedule action %q (enable, disable, run-now)", r.PathValue("action")))
	}
}
