// Package workflow runs workflow jobs: an event (from the API, or a job that
// finished) is recorded, and every configured trigger it matches submits its
// job through the guard, in the event's own transaction.
package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
)

// JobCompleted is the event Bindery emits when a job reaches a COMPLETED_* status.
const JobCompleted = "job.completed"

// Event is one recorded event.
type Event struct {
	ID          int64             `json:"id"`
	Institution string            `json:"institution"`
	Type        string            `json:"type"`
	Payload     map[string]string `json:"payload"`
	SubmittedBy string            `json:"submitted_by"`
	CreatedAt   time.Time         `json:"created_at"`
	Jobs        []*jobs.Job       `json:"jobs"`
}

// Runner records events and fires triggers.
type Runner struct {
	Store   *jobs.Store
	Catalog *config.Config
	Guard   jobs.Decider
}

// Emit records an event inside tx and submits the job of every matching
// trigger. A trigger whose parameters do not resolve is an error: the event
// is refused as a whole rather than half-applied.
func (r *Runner) Emit(ctx context.Context, tx pgx.Tx, institution, eventType, by string, payload map[string]string) (*Event, error) {
	in, ok := r.Catalog.Institution(institution)
	if !ok {
		return nil, fmt.Errorf("unknown institution %q", institution)
	}
	if payload == nil {
		payload = map[string]string{}
	}
	ev := &Event{Institution: institution, Type: eventType, Payload: payload, SubmittedBy: by, Jobs: []*jobs.Job{}}
	for i, t := range r.Catalog.TriggersFor(eventType) {
		if !matches(t.When, payload) {
			continue
		}
		jt, _ := r.Catalog.JobType(t.Run)
		raw := map[string]string{}
		for k, v := range t.Params {
			if name, ok := strings.CutPrefix(v, "$"); ok {
				val, present := payload[name]
				if !present {
					return nil, &Error{fmt.Sprintf("trigger %d (%s -> %s): the event has no field %q for parameter %s", i, t.On, t.Run, name, k)}
				}
				v = val
			}
			raw[k] = v
		}
		params, err := jt.ResolveParams(in, raw)
		if err != nil {
			return nil, &Error{fmt.Sprintf("trigger %d (%s -> %s): %v", i, t.On, t.Run, err)}
		}
		job, err := r.Store.InsertTx(ctx, tx, jobs.NewJob{Institution: institution, Type: jt.ID,
			SubmittedBy: "workflow:" + eventType, Params: params, PriorityClass: jt.PriorityClass,
			SingleInstance: r.Catalog.Rules(institution, jt.ID).SingleInstance}, r.Guard)
		if err != nil {
			return nil, err
		}
		ev.Jobs = append(ev.Jobs, job)
	}
	ids := make([]int64, len(ev.Jobs))
	for i, j := range ev.Jobs {
		ids[i] = j.ID
	}
	body, _ := json.Marshal(payload)
	err := tx.QueryRow(ctx, `INSERT INTO events (institution, type, payload, submitted_by, job_ids)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`, institution, eventType, body, by, ids).Scan(&ev.ID, &ev.CreatedAt)
	return ev, err
}

// Error is an event that cannot be applied (bad payload for a trigger).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func matches(when, payload map[string]string) bool {
	for k, v := range when {
		if payload[k] != v {
			return false
		}
	}
	return true
}

// CompletedPayload is the job.completed payload of a finished job: its id,
// type, status and parameters (which never shadow the first three).
func CompletedPayload(j *jobs.Job, status jobs.Status) map[string]string {
	p := map[string]string{}
	for k, v := range j.Params {
		p[k] = fmt.Sprint(v)
	}
	p["job_id"] = fmt.Sprint(j.ID)
	p["type"] = j.Type
	p["status"] = string(status)
	return p
}

// Rerun submits a new job with the type and parameters of a finished one.
func (r *Runner) Rerun(ctx context.Context, orig *jobs.Job, by string) (*jobs.Job, error) {
	if !orig.Status.Terminal() {
		return nil, &Error{fmt.Sprintf("job %d is %s; only a finished job can be rerun", orig.ID, orig.Status)}
	}
	jt, ok := r.Catalog.JobType(orig.Type)
	if !ok {
		return nil, &Error{fmt.Sprintf("job type %q is no longer configured", orig.Type)}
	}
	if jt.Upload != "" {
		return nil, &Error{fmt.Sprintf("job %d ran on an uploaded file; run it again with the file", orig.ID)}
	}
	var job *jobs.Job
	err := pgx.BeginFunc(ctx, r.Store.Pool, func(tx pgx.Tx) error {
		var err error
		job, err = r.Store.InsertTx(ctx, tx, jobs.NewJob{Institution: orig.Institution, Type: orig.Type, SubmittedBy: by,
			Params: orig.Params, PriorityClass: jt.PriorityClass,
			SingleInstance: r.Catalog.Rules(orig.Institution, orig.Type).SingleInstance}, r.Guard)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE jobs SET rerun_of = $2 WHERE id = $1`, job.ID, orig.ID)
		return err
	})
	return job, err
}
