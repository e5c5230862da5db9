package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/sets/query"
)

// SetUploadPath is where an itemized set is created: the body is the id
// file (a header line naming the id kind, then one id per line), the query
// names the set (name=, and optionally content_type=, description=).
const SetUploadPath = "/api/v1/sets/upload"

func (s *Server) routeSets() {
	s.mux.Handle("GET /api/v1/sets", s.authed(s.listSets))
	s.mux.Handle("POST /api/v1/sets", s.acting(s.createLogicalSet))
	s.mux.Handle("POST "+SetUploadPath, s.acting(s.createItemizedSet))
	s.mux.Handle("GET /api/v1/sets/{id}", s.authed(s.showSet))
	s.mux.Handle("GET /api/v1/sets/{id}/members", s.authed(s.setMembers))
	s.mux.Handle("DELETE /api/v1/sets/{id}", s.acting(s.deleteSet))
}

// insertJob inserts a job after checking the set it is submitted to run on
// (sets.CheckSubmit), in one transaction with the guard's decision.
func (s *Server) insertJob(ctx context.Context, jt *config.JobType, nj jobs.NewJob) (*jobs.Job, error) {
	var job *jobs.Job
	err := pgx.BeginFunc(ctx, s.d.Store.Pool, func(tx pgx.Tx) error {
		if err := sets.CheckSubmit(ctx, tx, jt, nj.Institution, nj.Params); err != nil {
			return err
		}
		var err error
		job, err = s.d.Store.InsertTx(ctx, tx, nj, s.guard)
		return err
	})
	return job, err
}

// setError answers the errors of the sets package.
func (s *Server) setError(w http.ResponseWriter, r *http.Request, err error) {
	var ie *sets.InputError
	var qe *query.Error
	var iu *sets.InUseError
	switch {
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, ie.Msg)
	case errors.As(err, &qe):
		writeError(w, http.StatusBadRequest, qe.Error())
	case errors.Is(err, sets.ErrNameTaken):
		writeError(w, http.StatusConflict, "a set with this name already exists in the institution; choose another name or delete it first")
	case errors.As(err, &iu):
		writeError(w, http.StatusConflict, iu.Error())
	case errors.Is(err, sets.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("set %s not found", r.PathValue("id")))
	default:
		s.internal(w, r, err)
	}
}

func (s *Server) listSets(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	list, err := sets.List(r.Context(), s.d.Store.Pool, s.visibleInstitutions(p))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if list == nil {
		list = []*sets.Set{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) newSet(w http.ResponseWriter, p *auth.Principal) (sets.NewSet, bool) {
	in, ok := s.d.Catalog.Institution(p.Institution)
	if !ok {
		writeError(w, http.StatusForbidden, fmt.Sprintf("institution %q of this token is not in the configuration", p.Institution))
		return sets.NewSet{}, false
	}
	return sets.NewSet{Institution: in.ID, CreatedBy: p.User, TimeZone: in.TimeZone}, true
}

// createLogicalSet: POST /api/v1/sets {"name", "query", "content_type",
// "description"}; the answer counts the members the query selects now.
func (s *Server) createLogicalSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	n, ok := s.newSet(w, p)
	if !ok {
		return
	}
	var req sets.NewSet
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	if req.Query == "" {
		writeError(w, http.StatusBadRequest, "a logical set needs a query; to upload ids, POST the id file to "+SetUploadPath)
		return
	}
	n.Name, n.Description, n.ContentType, n.Query = req.Name, req.Description, req.ContentType, req.Query
	set, err := sets.CreateLogical(r.Context(), s.d.Store.Pool, n)
	if err != nil {
		s.setError(w, r, err)
		return
	}
	// Run it once, so whoever wrote the query sees what it selects. The set
	// exists whatever happens here.
	if c, err := sets.Count(r.Context(), s.d.Store.Pool, set); err == nil {
		set.Members = &c
	} else {
		s.log.Warn("new logical set could not be counted", "set", set.ID, "err", err)
	}
	s.log.Info("set created", "set", set.ID, "kind", set.Kind, "institution", set.Institution, "user", p.User)
	writeJSON(w, http.StatusCreated, set)
}

// createItemizedSet: the body is the id file, streamed.
func (s *Server) createItemizedSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	n, ok := s.newSet(w, p)
	if !ok {
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "name" && k != "content_type" && k != "description" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (name, content_type, description)", k))
			return
		}
	}
	n.Name, n.ContentType, n.Description = q.Get("name"), q.Get("content_type"), q.Get("description")
	set, err := sets.CreateItemized(r.Context(), s.d.Store.Pool, n, r.Body)
	if err != nil {
		if r.Context().Err() != nil {
			s.log.Warn("set upload broken off; nothing kept", "institution", n.Institution, "user", p.User, "err", err)
			return
		}
		s.setError(w, r, err)
		return
	}
	s.log.Info("set created", "set", set.ID, "kind", set.Kind, "institution", set.Institution, "user", p.User,
		"members", *set.Members, "problems", set.ProblemCount)
	writeJSON(w, http.StatusCreated, set)
}

// visibleSet loads the set of the path, answering 404 for a set the
// principal may not see.
func (s *Server) visibleSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) (sets.Set, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("set id %q is not a number", r.PathValue("id")))
		return sets.Set{}, false
	}
	in, err := sets.InstitutionOf(r.Context(), s.d.Store.Pool, id)
	if err == nil && !slices.Contains(s.visibleInstitutions(p), in) {
		err = sets.ErrNotFound
	}
	var set sets.Set
	if err == nil {
		set, err = sets.Get(r.Context(), s.d.Store.Pool, in, id)
	}
	if err != nil {
		s.setError(w, r, err)
		return sets.Set{}, false
	}
	return set, true
}

// showSet answers the set; a logical set's query is run to count its
// members unless ?count=false.
func (s *Server) showSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	set, ok := s.visibleSet(w, r, p)
	if !ok {
		return
	}
	if set.Kind == sets.Logical && r.URL.Query().Get("count") != "false" {
		n, err := sets.Count(r.Context(), s.d.Store.Pool, set)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		set.Members = &n
	}
	writeJSON(w, http.StatusOK, set)
}

// setMembers streams the set's members as they are now, as a JSON array,
// from ?offset= (default 0), at most ?limit= (default all).
func (s *Server) setMembers(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	set, ok := s.visibleSet(w, r, p)
	if !ok {
		return
	}
	var bounds [2]int64
	for i, k := range []string{"offset", "limit"} {
		if v := r.URL.Query().Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s must be a whole number of at least 0", k))
				return
			}
			bounds[i] = n
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("["))
	enc := json.NewEncoder(w)
	first := true
	_, err := sets.Members(r.Context(), s.d.Store.Pool, set, bounds[0], bounds[1], func(m sets.Member) error {
		if !first {
			if _, err := w.Write([]byte(",")); err != nil {
				return err
			}
		}
		first = false
		return enc.Encode(m)
	})
	if err != nil {
		// The status is sent: a broken array tells the client.
		s.log.Error("set members stream broken", "set", set.ID, "err", err)
		return
	}
	_, _ = w.Write([]byte("]\n"))
}

func (s *Server) deleteSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("set id %q is not a number", r.PathValue("id")))
		return
	}
	if err := sets.Delete(r.Context(), s.d.Store.Pool, p.Institution, id); err != nil {
		s.setError(w, r, err)
		return
	}
	s.log.Info("set deleted", "set", id, "institution", p.Institution, "user", p.User)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id})
}
