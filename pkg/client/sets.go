package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/sets"
)

// Sets lists the sets visible to the token.
func (c *Client) Sets(ctx context.Context) ([]*sets.Set, error) {
	var out []*sets.Set
	err := c.do(ctx, http.MethodGet, "/api/v1/sets", nil, &out)
	return out, err
}

// Set returns one set; count runs a logical set's query to count its members.
func (c *Client) Set(ctx context.Context, id int64, count bool) (*sets.Set, error) {
	var s sets.Set
	err := c.do(ctx, http.MethodGet, "/api/v1/sets/"+strconv.FormatInt(id, 10)+"?count="+strconv.FormatBool(count), nil, &s)
	return &s, err
}

// CreateLogicalSet creates a logical set (n.Query).
func (c *Client) CreateLogicalSet(ctx context.Context, n sets.NewSet) (*sets.Set, error) {
	var s sets.Set
	err := c.do(ctx, http.MethodPost, "/api/v1/sets", n, &s)
	return &s, err
}

// UploadSet creates an itemized set from an id file, streamed as the body.
func (c *Client) UploadSet(ctx context.Context, n sets.NewSet, file io.Reader) (*sets.Set, error) {
	q := url.Values{"name": {n.Name}}
	if n.ContentType != "" {
		q.Set("content_type", n.ContentType)
	}
	if n.Description != "" {
		q.Set("description", n.Description)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+api.SetUploadPath+"?"+q.Encode(), file)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	var s sets.Set
	if err := c.upload(req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DeleteSet deletes a set.
func (c *Client) DeleteSet(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/sets/"+strconv.FormatInt(id, 10), nil, nil)
}

// SetMembers streams a set's members as they are now (a logical set's
// query is run), from offset, at most limit (0: all), calling fn with each.
func (c *Client) SetMembers(ctx context.Context, id, offset, limit int64, fn func(sets.Member) error) error {
	path := fmt.Sprintf("/api/v1/sets/%d/members?offset=%d&limit=%d", id, offset, limit)
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("set members: bad answer: %w", err)
	}
	for dec.More() {
		var m sets.Member
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("set members: the answer broke off (see the server log): %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("set members: the answer broke off (see the server log): %w", err)
	}
	return nil
}
