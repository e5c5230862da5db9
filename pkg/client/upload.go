package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/jobs"
)

// SubmitFile runs a job of jobType that takes a file (Metadata Import), with
// raw parameters; file is streamed as the request body, never held whole in
// memory. size is its length, or -1 when unknown (sent chunked).
func (c *Client) SubmitFile(ctx context.Context, jobType string, params map[string]string, file io.Reader, size int64) (*jobs.Job, error) {
	q := url.Values{"type": {jobType}}
	for k, v := range params {
		q.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+api.UploadPath+"?"+q.Encode(), file)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	var j jobs.Job
	if err := c.upload(req, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// upload sends req, whose body streams a file, with the token, and decodes
// the JSON answer into out.
func (c *Client) upload(req *http.Request, out any) error {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("upload to the Bindery server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := errorOf(resp); err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("upload: bad answer: %w", err)
	}
	return nil
}

// errorOf turns a non-2xx answer into *Error (as send does).
func errorOf(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var eb api.ErrorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
		eb.Error = strings.TrimSpace(string(raw))
	}
	return &Error{Status: resp.StatusCode, Message: eb.Error}
}
