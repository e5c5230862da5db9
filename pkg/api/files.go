package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/jobs"
)

// SHA256Header carries a downloaded job file's SHA-256 (hex), so a client
// can check what it received.
const SHA256Header = "X-Bindery-Sha256"

func (s *Server) routeFiles() {
	s.mux.Handle("GET /api/v1/jobs/{id}/files", s.authed(s.listFiles))
	s.mux.Handle("GET /api/v1/jobs/{id}/files/{name}", s.authed(s.downloadFile))
}

// listFiles lists the files a job wrote (publishing, export).
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	job, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	files, err := s.d.Store.Files(r.Context(), job.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if files == nil {
		files = []jobs.File{}
	}
	writeJSON(w, http.StatusOK, files)
}

// downloadFile streams one file of a job (Range requests included).
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request, p *auth.Principal) {
	job, ok := s.visibleJob(w, r, p)
	if !ok {
		return
	}
	name := r.PathValue("name")
	f, err := s.d.Store.File(r.Context(), job.ID, name)
	if errors.Is(err, jobs.ErrFileNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("job %d has no file %q (see GET /api/v1/jobs/%d/files)", job.ID, name, job.ID))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	fh, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		writeError(w, http.StatusGone, fmt.Sprintf("file %q of job %d is no longer on the server (%s)", name, job.ID, f.Path))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer fh.Close()
	ctype := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".gz"):
		ctype = "application/gzip"
	case strings.HasSuffix(name, ".json"):
		ctype = "application/json"
	case strings.HasSuffix(name, ".xml"):
		ctype = "application/marcxml+xml"
	case strings.HasSuffix(name, ".mrc"):
		ctype = "application/marc"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set(SHA256Header, f.SHA256)
	http.ServeContent(w, r, name, f.Created, fh)
}
