package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/auth"
)

// TestJobPriority: operators only (of the job's institution), a known
// priority only, unfinished jobs only; the class follows the priority.
func TestJobPriority(t *testing.T) {
	hs, tokens := newServer(t)
	ctx := context.Background()
	token := func(p auth.Principal) string {
		tok, _, err := tokens.Create(ctx, p)
		require.NoError(t, err)
		return tok
	}
	staff := token(auth.Principal{Institution: "DEMO", Role: auth.RoleStaff, User: "s"})
	operator := token(auth.Principal{Institution: "DEMO", Role: auth.RoleOperator, User: "o"})
	otherOp := token(auth.Principal{Institution: "DEMO2", Role: auth.RoleOperator, User: "o2"})
	monitor := token(auth.Principal{Network: "DEMO-NET", Role: auth.RoleNetworkMonitor, User: "m"})
	call := func(tok, method, path string, body any) (int, string) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, hs.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call(staff, "POST", "/api/v1/jobs", api.SubmitRequest{Type: "noop"})
	require.Equal(t, http.StatusCreated, code, body)
	var job struct {
		ID            int64  `json:"id"`
		Priority      string `json:"priority"`
		PriorityClass string `json:"priority_class"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &job))
	require.Equal(t, "normal", job.Priority)
	path := fmt.Sprintf("/api/v1/jobs/%d/priority", job.ID)

	for _, tt := range []struct {
		name, token, priority string
		code                  int
		want                  string
	}{
		{"staff", staff, "high", http.StatusForbidden, "only an operator"},
		{"network monitor", monitor, "high", http.StatusForbidden, "network-monitor"},
		{"operator of another institution", otherOp, "high", http.StatusNotFound, "not found"},
		{"unknown priority", operator, "urgent", http.StatusBadRequest, `unknown priority \"urgent\"`},
		{"high", operator, "high", http.StatusOK, `"priority_class": "critical"`},
		{"low", operator, "low", http.StatusOK, `"priority_class": "bulk"`},
		{"normal", operator, "normal", http.StatusOK, `"priority_class": "default"`},
	} {
		code, body := call(tt.token, "POST", path, api.PriorityRequest{Priority: tt.priority})
		require.Equal(t, tt.code, code, "%s: %s", tt.name, body)
		require.Contains(t, body, tt.want, tt.name)
	}

	code, body = call(staff, "POST", fmt.Sprintf("/api/v1/jobs/%d/abort", job.ID), nil)
	require.Equal(t, http.StatusOK, code, body)
	code, body = call(operator, "POST", path, api.PriorityRequest{Priority: "high"})
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "a finished job's priority cannot change")

	// No engine leader has published capacity in this test.
	code, body = call(staff, "GET", "/api/v1/capacity", nil)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, "no engine leader has reported capacity")
}
