package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/jobs"
)

// Files lists the files a job wrote (publishing, export).
func (c *Client) Files(ctx context.Context, id int64) ([]jobs.File, error) {
	var out []jobs.File
	err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/files", nil, &out)
	return out, err
}

// Download streams one file of a job; the caller closes it. sha256 is the
// file's checksum as the server recorded it (hex).
func (c *Client) Download(ctx context.Context, id int64, name string) (body io.ReadCloser, size int64, sha256 string, err error) {
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/files/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, 0, "", err
	}
	return resp.Body, resp.ContentLength, resp.Header.Get(api.SHA256Header), nil
}
