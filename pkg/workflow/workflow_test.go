package workflow_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
	"github.com/bindery/bindery/pkg/workflow"
)

const catalogYAML = `
institutions: [{id: A, name: A}]
job_types:
  - id: export-orders
    name: Export Orders (PO)
    category: acquisitions
    kind: workflow
    params: [{name: po_line, type: string, required: true}]
  - {id: import, name: Import, category: import, kind: manual, params: [{name: profile, type: string}]}
  - {id: normalize, name: Normalize, category: metadata, kind: workflow}
triggers:
  - {on: po.submitted, run: export-orders, params: {po_line: $po_line}}
  - {on: job.completed, when: {type: import, profile: vendor, status: COMPLETED_SUCCESS}, run: normalize}
`

func setup(t *testing.T) (*workflow.Runner, *jobs.Store) {
	cat, err := config.Parse("test.yaml", []byte(catalogYAML))
	require.NoError(t, err)
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	return &workflow.Runner{Store: store, Catalog: cat, Guard: &guard.Guard{Catalog: cat}}, store
}

func emit(t *testing.T, r *workflow.Runner, typ string, payload map[string]string) (*workflow.Event, error) {
	var ev *workflow.Event
	err := pgx.BeginFunc(context.Background(), r.Store.Pool, func(tx pgx.Tx) error {
		var err error
		ev, err = r.Emit(context.Background(), tx, "A", typ, "ils", payload)
		return err
	})
	return ev, err
}

func TestEventStartsWorkflowJob(t *testing.T) {
	r, _ := setup(t)
	ev, err := emit(t, r, "po.submitted", map[string]string{"po_line": "POL-7"})
	require.NoError(t, err)
	require.Len(t, ev.Jobs, 1)
	require.Equal(t, "export-orders", ev.Jobs[0].Type)
	require.Equal(t, "POL-7", ev.Jobs[0].Params["po_line"])
	require.Equal(t, "workflow:po.submitted", ev.Jobs[0].SubmittedBy)

	_, err = emit(t, r, "po.submitted", nil)
	require.ErrorContains(t, err, `the event has no field "po_line"`)

	ev, err = emit(t, r, "something.else", nil)
	require.NoError(t, err)
	require.Empty(t, ev.Jobs, "an event without trigger is recorded and starts nothing")
}

func TestCompletedJobTriggersNext(t *testing.T) {
	r, _ := setup(t)
	done := &jobs.Job{ID: 41, Type: "import", Params: map[string]any{"profile": "vendor"}}
	ev, err := emit(t, r, workflow.JobCompleted, workflow.CompletedPayload(done, jobs.CompletedSuccess))
	require.NoError(t, err)
	require.Len(t, ev.Jobs, 1)
	require.Equal(t, "normalize", ev.Jobs[0].Type)

	ev, err = emit(t, r, workflow.JobCompleted, workflow.CompletedPayload(done, jobs.CompletedFailed))
	require.NoError(t, err)
	require.Empty(t, ev.Jobs, "a failed import does not start the next job")
}

func TestRerun(t *testing.T) {
	r, store := setup(t)
	ctx := context.Background()
	ev, err := emit(t, r, "po.submitted", map[string]string{"po_line": "POL-9"})
	require.NoError(t, err)
	orig := ev.Jobs[0]
	_, err = r.Rerun(ctx, orig, "staff")
	require.ErrorContains(t, err, "only a finished job can be rerun")

	for _, s := range []jobs.Status{jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedFailed} {
		require.NoError(t, store.Transition(ctx, store.Pool, orig.ID, s, ""))
	}
	orig, err = store.Get(ctx, orig.ID)
	require.NoError(t, err)
	again, err := r.Rerun(ctx, orig, "staff")
	require.NoError(t, err)
	require.Equal(t, jobs.Queued, again.Status)
	require.Equal(t, "POL-9", again.Params["po_line"])
	var rerunOf int64
	require.NoError(t, store.Pool.QueryRow(ctx, `SELECT rerun_of FROM jobs WHERE id = $1`, again.ID).Scan(&rerunOf))
	require.Equal(t, orig.ID, rerunOf)
}
