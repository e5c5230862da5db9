package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/staging"
)

// UploadPath is where a job that takes a file is submitted: the body is the
// file itself (any length, streamed; Content-Type application/octet-stream),
// the query names the job type (type=) and its parameters (every other key),
// e.g. POST /api/v1/jobs/upload?type=metadata-import&profile=vendor-bibs.
const UploadPath = "/api/v1/jobs/upload"

// upload submits a job together with its file. The job row and the file's
// staged records are written in one transaction: a broken upload (the client
// goes away, the body ends early) leaves nothing behind.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	q := r.URL.Query()
	typ := q.Get("type")
	jt, ok := s.d.Catalog.JobType(typ)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown job type %q (known: %s)", typ, knownTypes(s.d.Catalog)))
		return
	}
	if jt.Upload != "marc" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("job type %s takes no file; submit it with POST /api/v1/jobs", jt.ID))
		return
	}
	in, ok := s.d.Catalog.Institution(p.Institution)
	if !ok {
		writeError(w, http.StatusForbidden, fmt.Sprintf("institution %q of this token is not in the configuration", p.Institution))
		return
	}
	raw := map[string]string{}
	for k, vs := range q {
		if k == "type" {
			continue
		}
		if len(vs) != 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %q given %d times", k, len(vs)))
			return
		}
		raw[k] = vs[0]
	}
	params, err := jt.ResolveParams(in, raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	profileID, _ := params["profile"].(string)
	profile, ok := s.d.Catalog.ImportProfile(profileID, in.ID)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter \"profile\": unknown import profile %q for institution %s (known: %s)",
			profileID, in.ID, strings.Join(s.d.Catalog.ProfilesFor(in.ID), ", ")))
		return
	}
	ctx := r.Context()
	var job *jobs.Job
	var staged staging.Result
	err = pgx.BeginFunc(ctx, s.d.Store.Pool, func(tx pgx.Tx) error {
		var err error
		job, err = s.d.Store.InsertTx(ctx, tx, jobs.NewJob{
			Institution: in.ID, Type: jt.ID, SubmittedBy: p.User, Params: params, PriorityClass: jt.PriorityClass,
			SingleInstance: s.d.Catalog.Rules(in.ID, jt.ID).SingleInstance,
		}, s.guard)
		if err != nil || job.Status == jobs.Skipped {
			return err // a skipped job never runs: its file is not kept
		}
		// Staged in groups of the job type's chunk size: each chunk reads one.
		staged, err = staging.Stage(ctx, tx, job.ID, r.Body, profile, jt.ChunkSize)
		return err
	})
	if err != nil && job != nil {
		// Decided, then rolled back: the guard's lease goes at once, not
		// after the reconciler's grace period.
		s.guard.Forget(context.WithoutCancel(ctx), job.Institution, job.Type, job.ID)
	}
	if errors.Is(err, staging.ErrEmpty) {
		writeError(w, http.StatusBadRequest, "the uploaded file is empty")
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			s.log.Warn("upload broken off; nothing kept", "type", jt.ID, "institution", in.ID, "user", p.User, "err", err)
			return
		}
		if errors.Is(err, staging.ErrRead) {
			s.log.Warn("upload failed; nothing kept", "type", jt.ID, "institution", in.ID, "user", p.User, "err", err)
			writeError(w, http.StatusBadRequest, "upload failed, nothing was kept: "+err.Error())
			return
		}
		s.internal(w, r, err)
		return
	}
	s.d.Metrics.JobsSubmitted.WithLabelValues(in.ID, jt.ID).Inc()
	s.log.Info("job submitted with a file", "job", job.ID, "type", jt.ID, "institution", in.ID, "user", p.User,
		"status", job.Status, "format", staged.Format, "bytes", staged.Bytes, "records", staged.Records, "unreadable", staged.Unreadable)
	s.wake(r)
	writeJSON(w, http.StatusCreated, job)
}
