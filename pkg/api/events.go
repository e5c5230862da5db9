package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/workflow"
)

// EventRequest is the body of POST /api/v1/events.
type EventRequest struct {
	Type    string            `json:"type"`
	Payload map[string]string `json:"payload"`
}

func (s *Server) routeWorkflow() {
	s.mux.Handle("POST /api/v1/events", s.acting(s.postEvent))
	s.mux.Handle("POST /api/v1/jobs/{id}/rerun", s.acting(s.rerun))
}

// postEvent records an event for the token's institution and starts the
// workflow jobs its triggers name; the answer lists them.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req EventRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Type == "" {
		writeError(w, http.StatusBadRequest, "request body: want {\"type\": \"po.submitted\", \"payload\": {...}}")
		return
	}
	var ev *workflow.Event
	err := pgx.BeginFunc(r.Context(), s.d.Store.Pool, func(tx pgx.Tx) error {
		var err error
		ev, err = s.flow.Emit(r.Context(), tx, p.Institution, req.Type, p.User, req.Payload)
		return err
	})
	var werr *workflow.Error
	if errors.As(err, &werr) {
		writeError(w, http.StatusBadRequest, werr.Msg)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.wake(r)
	writeJSON(w, http.StatusCreated, ev)
}

func (s *Server) rerun(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	orig, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	job, err := s.flow.Rerun(r.Context(), orig, p.User)
	var werr *workflow.Error
	if errors.As(err, &werr) {
		writeError(w, http.StatusConflict, werr.Msg)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.wake(r)
	writeJSON(w, http.StatusCreated, job)
}
