package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/engine"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/queue"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/workers"
)

func newServer(t *testing.T) (*httptest.Server, *auth.Tokens) {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	hs, tokens, _ := serveCatalog(t, cat)
	return hs, tokens
}

// serveCatalog runs an API server of the catalog (with an engine, its
// guard's copy built in Redis) on a database of its own.
func serveCatalog(t *testing.T, cat *config.Config) (*httptest.Server, *auth.Tokens, *testenv.Database) {
	t.Helper()
	db := testenv.NewDatabase(t)
	rd := testenv.NewRedis(t)
	opt, err := queue.RedisOpt(rd.URL)
	require.NoError(t, err)
	store := jobs.NewStore(db.Pool)
	eng, err := engine.New(store, opt, engine.Config{Catalog: cat, Kinds: workers.Kinds()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = eng.Close() })
	require.NoError(t, eng.Reconcile(context.Background())) // builds the guard's copy in Redis
	tokens := &auth.Tokens{Pool: db.Pool}
	srv, err := api.New(api.Deps{Catalog: cat, Store: store, Tokens: tokens, Aborter: eng, Redis: opt})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs, tokens, db
}

// TestConcurrentSubmissionsOfSingleInstanceJob: 200 submissions of Loan
// Anonymization from 8 goroutines through the API: exactly one is admitted,
// every other ends SKIPPED naming it.
func TestConcurrentSubmissionsOfSingleInstanceJob(t *testing.T) {
	hs, tokens := newServer(t)
	token, _, err := tokens.Create(context.Background(), auth.Principal{Institution: "DEMO", Role: auth.RoleStaff, User: "t"})
	require.NoError(t, err)

	const n, workers = 200, 8
	out := make(chan jobs.Job, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/workers; i++ {
				body, _ := json.Marshal(api.SubmitRequest{Type: "loan-anonymization"})
				req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/jobs", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var j jobs.Job
				err = json.NewDecoder(resp.Body).Decode(&j)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusCreated {
					t.Errorf("status %d: %v", resp.StatusCode, err)
					return
				}
				out <- j
			}
		}()
	}
	wg.Wait()
	close(out)
	var admitted []jobs.Job
	var skipped []jobs.Job
	for j := range out {
		if j.Status == jobs.Skipped {
			skipped = append(skipped, j)
		} else {
			admitted = append(admitted, j)
		}
	}
	require.Len(t, admitted, 1)
	require.Equal(t, jobs.Queued, admitted[0].Status)
	require.Len(t, skipped, n-1)
	for _, s := range skipped {
		require.Contains(t, s.Message, fmt.Sprintf("job %d (loan-anonymization", admitted[0].ID))
	}
}

// A job type that runs on an uploaded file is refused by the plain submit
// route, telling how to upload it (it used to be accepted and then fail at
// initialization for want of its file).
func TestSubmitWithoutTheFileIsRefused(t *testing.T) {
	hs, tokens := newServer(t)
	token, _, err := tokens.Create(context.Background(), auth.Principal{Institution: "DEMO", Role: auth.RoleStaff, User: "t"})
	require.NoError(t, err)
	body, _ := json.Marshal(api.SubmitRequest{Type: "metadata-import", Params: map[string]string{"profile": "vendor-bibs"}})
	req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v1/jobs", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e api.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, e.Error, "bindery job run metadata-import --file PATH")

	// No job was created.
	req, _ = http.NewRequest(http.MethodGet, hs.URL+"/api/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var list []jobs.Job
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Empty(t, list)
}
