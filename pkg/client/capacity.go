package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
)

// SetPriority changes a job's priority (high, normal, low); operators only.
func (c *Client) SetPriority(ctx context.Context, id int64, priority string) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/priority", api.PriorityRequest{Priority: priority}, &j)
	return &j, err
}

// Capacity returns the admission controller's latest capacity report.
func (c *Client) Capacity(ctx context.Context) (*fair.Capacity, error) {
	var rep fair.Capacity
	err := c.do(ctx, http.MethodGet, "/api/v1/capacity", nil, &rep)
	return &rep, err
}
