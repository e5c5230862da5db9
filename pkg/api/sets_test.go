package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/auth"
	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/testenv"
)

// setServer is newServer with one more job type that runs on sets of bib
// records, and the database, to arrange the catalog.
func setServer(t *testing.T) (*httptest.Server, *auth.Tokens, *testenv.Database) {
	t.Helper()
	cat, err := config.Parse("shipped", shipped.Default)
	require.NoError(t, err)
	noop, _ := cat.JobType("noop")
	onSet := *noop
	onSet.ID, onSet.Name, onSet.SetContent = "bib-set-check", "Runs on a set of bibs", "bib"
	onSet.Params = []config.Param{{Name: "set", Type: "int", Required: true}}
	cat.JobTypes = append(cat.JobTypes, onSet)
	return serveCatalog(t, cat)
}

func clientFor(t *testing.T, hs *httptest.Server, tokens *auth.Tokens, p auth.Principal) *client.Client {
	t.Helper()
	token, _, err := tokens.Create(context.Background(), p)
	require.NoError(t, err)
	return client.New(hs.URL, token)
}

func requireStatus(t *testing.T, err error, status int, contains string) {
	t.Helper()
	var ce *client.Error
	require.True(t, errors.As(err, &ce), "want an answer %d, got %v", status, err)
	require.Equal(t, status, ce.Status, ce.Message)
	require.Contains(t, ce.Message, contains)
}

// TestSubmitRefusesASetOfTheWrongContentOrInstitution: a job type that
// runs on sets of bibs is refused at submit (400, naming both content
// types) for a set of items or another institution's set, and accepted on
// its own bib set, which then cannot be deleted while the job is unfinished.
func TestSubmitRefusesASetOfTheWrongContentOrInstitution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hs, tokens, db := setServer(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO items (institution, barcode, title) VALUES ('DEMO', 'B1', 'One')`)
	require.NoError(t, err)
	demo := clientFor(t, hs, tokens, auth.Principal{Institution: "DEMO", Role: auth.RoleStaff, User: "ann"})
	demo2 := clientFor(t, hs, tokens, auth.Principal{Institution: "DEMO2", Role: auth.RoleStaff, User: "bob"})
	monitor := clientFor(t, hs, tokens, auth.Principal{Network: "DEMO-NET", Role: auth.RoleNetworkMonitor, User: "nz"})

	items, err := demo.UploadSet(ctx, sets.NewSet{Name: "Shelf 3"}, strings.NewReader("Barcode\nB1\nB404\n"))
	require.NoError(t, err)
	require.Equal(t, sets.ContentItem, items.ContentType)
	require.Equal(t, []sets.Problem{{Line: 3, Value: "B404", Problem: "not found"}}, items.Problems)
	bibs, err := demo.CreateLogicalSet(ctx, sets.NewSet{Name: "Unsuppressed", Query: "NOT suppressed"})
	require.NoError(t, err)
	require.Equal(t, sets.ContentBib, bibs.ContentType)
	theirs, err := demo2.CreateLogicalSet(ctx, sets.NewSet{Name: "Theirs", Query: "all"})
	require.NoError(t, err)

	_, err = demo.Submit(ctx, "bib-set-check", map[string]string{"set": fmt.Sprint(items.ID)})
	requireStatus(t, err, http.StatusBadRequest, fmt.Sprintf(
		`job type bib-set-check runs on sets of bib records (bib), but set %d ("Shelf 3") holds physical items (item)`, items.ID))
	_, err = demo.Submit(ctx, "bib-set-check", map[string]string{"set": fmt.Sprint(theirs.ID)})
	requireStatus(t, err, http.StatusBadRequest, fmt.Sprintf("set %d is not a set of institution DEMO", theirs.ID))
	_, err = demo.Submit(ctx, "bib-set-check", map[string]string{"set": "999999"})
	requireStatus(t, err, http.StatusBadRequest, "set 999999 is not a set of institution DEMO")
	_, err = demo.Submit(ctx, "bib-set-check", nil)
	requireStatus(t, err, http.StatusBadRequest, `parameter "set": is required`)
	var n int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n))
	require.Zero(t, n, "refused submissions leave no job")

	job, err := demo.Submit(ctx, "bib-set-check", map[string]string{"set": fmt.Sprint(bibs.ID)})
	require.NoError(t, err)
	require.Equal(t, jobs.Queued, job.Status)
	err = demo.DeleteSet(ctx, bibs.ID)
	requireStatus(t, err, http.StatusConflict, fmt.Sprintf("set %d is in use by job %d (bib-set-check, QUEUED)", bibs.ID, job.ID))

	// Visibility: the other institution sees 404, the network monitor sees
	// both but may not create or delete.
	_, err = demo2.Set(ctx, items.ID, false)
	requireStatus(t, err, http.StatusNotFound, "not found")
	requireStatus(t, demo2.DeleteSet(ctx, items.ID), http.StatusNotFound, "not found")
	all, err := monitor.Sets(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	_, err = monitor.CreateLogicalSet(ctx, sets.NewSet{Name: "x", Query: "all"})
	requireStatus(t, err, http.StatusForbidden, "network-monitor")
	mine, err := demo.Sets(ctx)
	require.NoError(t, err)
	require.Len(t, mine, 2)

	// Bad input: a query that cannot be parsed, a name taken, a bad header.
	_, err = demo.CreateLogicalSet(ctx, sets.NewSet{Name: "bad", Query: `650 $a contains`})
	requireStatus(t, err, http.StatusBadRequest, `query: position 16: expected a value after "contains"`)
	_, err = demo.CreateLogicalSet(ctx, sets.NewSet{Name: "Shelf 3", Query: "all"})
	requireStatus(t, err, http.StatusConflict, "already exists")
	_, err = demo.UploadSet(ctx, sets.NewSet{Name: "po"}, strings.NewReader("PO Line\nPOL-1\n"))
	requireStatus(t, err, http.StatusBadRequest, "no purchase order data")

	// Members stream, and the item set can go.
	var got []sets.Member
	require.NoError(t, demo.SetMembers(ctx, items.ID, 0, 0, func(m sets.Member) error { got = append(got, m); return nil }))
	require.Equal(t, []sets.Member{{Ord: 1, ID: got[0].ID, Key: "B1", Label: "One"}}, got)
	require.NoError(t, demo.DeleteSet(ctx, items.ID))
	_, err = demo.Set(ctx, items.ID, false)
	requireStatus(t, err, http.StatusNotFound, "not found")
}

// dyingBody sends n bytes of an id file, then fails like a client that died.
type dyingBody struct{ n int }

func (d *dyingBody) Read(p []byte) (int, error) {
	if d.n <= 0 {
		return 0, errors.New("client died mid-upload")
	}
	line := []byte("990000000001\n")
	k := 0
	for k+len(line) <= len(p) && d.n > 0 {
		k += copy(p[k:], line)
		d.n -= len(line)
	}
	return k, nil
}

// TestBrokenSetUploadLeavesNothing: an id file that breaks off mid-upload
// creates no set, no member and no problem row.
func TestBrokenSetUploadLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hs, tokens, db := setServer(t)
	token, _, err := tokens.Create(ctx, auth.Principal{Institution: "DEMO", Role: auth.RoleStaff, User: "ann"})
	require.NoError(t, err)
	body := io.MultiReader(strings.NewReader("MMS ID\n"), &dyingBody{n: 2 << 20})
	req, err := http.NewRequest(http.MethodPost, hs.URL+api.SetUploadPath+"?name=broken", body)
	require.NoError(t, err)
	req.ContentLength = 8 << 20 // promised, never delivered
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		require.NotEqual(t, http.StatusCreated, resp.StatusCode)
	}
	testenv.Eventually(t, 10*time.Second, "the upload's transaction to end", func() bool {
		var busy int
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`).Scan(&busy))
		return busy == 0
	})
	var n int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sets) + (SELECT count(*) FROM set_members) + (SELECT count(*) FROM set_problems)`).Scan(&n))
	require.Zero(t, n)
}
