// Package client is a Go client of Bindery's HTTP API (what the CLI uses).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/jobs"
)

// Client talks to one Bindery server with one token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{}}
}

// Error is an answer of the server other than success.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// send performs a request and turns non-2xx answers into *Error.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Bindery server at %s (is `bindery server` running? set --server or BINDERY_SERVER): %w", c.BaseURL, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb api.ErrorBody
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(raw))
		}
		return nil, &Error{Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

// Submit runs a job of jobType with raw parameters.
func (c *Client) Submit(ctx context.Context, jobType string, params map[string]string) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs", api.SubmitRequest{Type: jobType, Params: params}, &j)
	return &j, err
}

// ListOptions filter List; empty fields do not filter.
type ListOptions struct {
	Status, Type, Institution string
	Limit                     int
}

// List returns jobs visible to the token, newest first.
func (c *Client) List(ctx context.Context, o ListOptions) ([]*jobs.Job, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": o.Status, "type": o.Type, "institution": o.Institution} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var out []*jobs.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil, &out)
	return out, err
}

// Get returns one job with its progress and history.
func (c *Client) Get(ctx context.Context, id int64) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+strconv.FormatInt(id, 10), nil, &j)
	return &j, err
}

// Abort aborts a job.
func (c *Client) Abort(ctx context.Context, id int64) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/abort", nil, &j)
	return &j, err
}

// Report streams a job's report in format json or csv; the caller closes it.
func (c *Client) Report(ctx context.Context, id int64, format string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/report?format="+url.QueryEscape(format), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
