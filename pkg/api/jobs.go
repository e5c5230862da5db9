package api

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/sets"
)

// SubmitRequest is the body of POST /api/v1/jobs.
type SubmitRequest struct {
	Type   string            `json:"type"`
	Params map[string]string `json:"params"`
}

// visibleInstitutions is what a principal may see.
func (s *Server) visibleInstitutions(p *auth.Principal) []string {
	if p.Role == auth.RoleNetworkMonitor {
		return s.d.Catalog.NetworkMembers(p.Network)
	}
	return []string{p.Institution}
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p *auth.Principal) {
	writeJSON(w, http.StatusOK, map[string]any{"user": p.User, "role": p.Role, "institution": p.Institution,
		"network": p.Network, "visible_institutions": s.visibleInstitutions(p)})
}

func (s *Server) jobTypes(w http.ResponseWriter, _ *http.Request, _ *auth.Principal) {
	writeJSON(w, http.StatusOK, s.d.Catalog.JobTypes)
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	var req SubmitRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return
	}
	jt, ok := s.d.Catalog.JobType(req.Type)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown job type %q (known: %s)", req.Type, knownTypes(s.d.Catalog)))
		return
	}
	if jt.Upload != "" {
		// Accepted, it could only fail at initialization for want of its file.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("job type %s runs on a file uploaded with it: "+
			"submit it with `bindery job run %s --file PATH` (API: POST %s?type=%s with the file as the body)", jt.ID, jt.ID, UploadPath, jt.ID))
		return
	}
	in, ok := s.d.Catalog.Institution(p.Institution)
	if !ok {
		writeError(w, http.StatusForbidden, fmt.Sprintf("institution %q of this token is not in the configuration", p.Institution))
		return
	}
	params, err := jt.ResolveParams(in, req.Params)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	job, err := s.insertJob(r.Context(), jt, jobs.NewJob{
		Institution: in.ID, Type: jt.ID, SubmittedBy: p.User, Params: params, PriorityClass: jt.PriorityClass,
		SingleInstance: s.d.Catalog.Rules(in.ID, jt.ID).SingleInstance,
	})
	var refused *sets.RefusedError
	if errors.As(err, &refused) {
		writeError(w, http.StatusBadRequest, refused.Msg)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.wake(r)
	s.d.Metrics.JobsSubmitted.WithLabelValues(in.ID, jt.ID).Inc()
	s.log.Info("job submitted", "job", job.ID, "type", jt.ID, "institution", in.ID, "user", p.User, "status", job.Status)
	writeJSON(w, http.StatusCreated, job)
}

func knownTypes(c *config.Config) string {
	var ids []string
	for _, jt := range c.JobTypes {
		ids = append(ids, jt.ID)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	f := jobs.Filter{Status: jobs.Status(strings.ToUpper(q.Get("status"))), Type: q.Get("type")}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown status %q", q.Get("status")))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 10000")
			return
		}
		f.Limit = n
	}
	f.Institutions = s.visibleInstitutions(p)
	if in := q.Get("institution"); in != "" {
		if !slices.Contains(f.Institutions, in) {
			// Not visible to this token: an empty list, not a hint that it exists.
			writeJSON(w, http.StatusOK, []*jobs.Job{})
			return
		}
		f.Institutions = []string{in}
	}
	list, err := s.d.Store.List(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if list == nil {
		list = []*jobs.Job{}
	}
	writeJSON(w, http.StatusOK, list)
}

// visibleJob loads the job of the path, answering 404 for a job the principal
// may not see, so ids of other institutions do not leak.
func (s *Server) visibleJob(w http.ResponseWriter, r *http.Request, p *auth.Principal) (*jobs.Job, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("job id %q is not a number", r.PathValue("id")))
		return nil, false
	}
	job, err := s.d.Store.Get(r.Context(), id)
	if errors.Is(err, jobs.ErrNotFound) || (err == nil && !slices.Contains(s.visibleInstitutions(p), job.Institution)) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("job %d not found", id))
		return nil, false
	}
	if err != nil {
		s.internal(w, r, err)
		return nil, false
	}
	return job, true
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	if job, ok := s.visibleJob(w, r, p); ok {
		writeJSON(w, http.StatusOK, job)
	}
}

func (s *Server) abort(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	job, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	err := s.d.Aborter.Abort(r.Context(), job.ID, p.User)
	var te *jobs.TransitionError
	if errors.As(err, &te) {
		writeError(w, http.StatusConflict, fmt.Sprintf("job %d is %s and can no longer be aborted", job.ID, te.From))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	job, err = s.d.Store.Get(r.Context(), job.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

// report streams the job's per-record report as JSON (an array) or CSV.
func (s *Server) report(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	job, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("["))
		first := true
		enc := json.NewEncoder(w)
		err := s.d.Store.ReportRows(r.Context(), job.ID, func(row jobs.ReportRow) error {
			if !first {
				if _, err := w.Write([]byte(",")); err != nil {
					return err
				}
			}
			first = false
			return enc.Encode(row)
		})
		if err != nil {
			s.log.Error("report stream broken", "job", job.ID, "err", err)
			return
		}
		_, _ = w.Write([]byte("]\n"))
	case "csv":
		w.Header().Set("Content-Type", "text/csv")
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"record_id", "outcome", "message"})
		err := s.d.Store.ReportRows(r.Context(), job.ID, func(row jobs.ReportRow) error {
			return cw.Write([]string{row.RecordID, row.Outcome, row.Message})
		})
		cw.Flush()
		if err != nil {
			s.log.Error("report stream broken", "job", job.ID, "err", err)
		}
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown report format %q (json, csv)", format))
	}
}
