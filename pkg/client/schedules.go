package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/schedule"
)

// Schedules lists the schedules visible to the token.
func (c *Client) Schedules(ctx context.Context) ([]*schedule.Schedule, error) {
	var out []*schedule.Schedule
	err := c.do(ctx, http.MethodGet, "/api/v1/schedules", nil, &out)
	return out, err
}

// Schedule returns the schedule of a job type (institution: for network monitors).
func (c *Client) Schedule(ctx context.Context, jobType, institution string) (*schedule.Schedule, error) {
	var sc schedule.Schedule
	path := "/api/v1/schedules/" + url.PathEscape(jobType)
	if institution != "" {
		path += "?institution=" + url.QueryEscape(institution)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &sc)
	return &sc, err
}

// SetSchedule creates or replaces the schedule of a job type.
func (c *Client) SetSchedule(ctx context.Context, jobType string, req schedule.SetRequest) (*schedule.Schedule, error) {
	var sc schedule.Schedule
	err := c.do(ctx, http.MethodPut, "/api/v1/schedules/"+url.PathEscape(jobType), req, &sc)
	return &sc, err
}

// ScheduleAction enables or disables a schedule.
func (c *Client) ScheduleAction(ctx context.Context, jobType, action string) (*schedule.Schedule, error) {
	var sc schedule.Schedule
	err := c.do(ctx, http.MethodPost, "/api/v1/schedules/"+url.PathEscape(jobType)+"/"+action, nil, &sc)
	return &sc, err
}

// RunScheduleNow submits a schedule's job at once.
func (c *Client) RunScheduleNow(ctx context.Context, jobType string) (*jobs.Job, error) {
	var j jobs.Job
	err := c.do(ctx, http.MethodPost, "/api/v1/schedules/"+url.PathEscape(jobType)+"/run-now", nil, &j)
	return &j, err
}
