package client

import (
	"context"
	"net/http"
	"strconv"

	"github.com/bindery/bindery/pkg/api"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/workflow"
)

// SendEvent raises an event; the answer lists the workflow jobs it started.
func (c *Client) SendEvent(ctx context.Context, eventType string, payload map[string]string) (*workflow.Event, error) {
	var ev workflow.Event
	err := c.do(ctx, http.MethodPost, "/api/v1/events", api.EventRequest{Type: eventType, Payload: payload}, &ev)
	return &ev, err
}

// Rerun submits a finished job again with the same type and parameters.
func (c *Client) Rerun(ctx context.Context, id int64) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+strconv.FormatInt(id, 10)+"/rerun", nil, &j)
	return &j, err
}
