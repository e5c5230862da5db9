package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
)

// TestEveryTransition drives a job into each status and tries to move it to
// every other status: the store must allow exactly the table's transitions,
// and never one out of a terminal status.
func TestEveryTransition(t *testing.T) {
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	ctx := context.Background()

	for _, from := range jobs.AllStatuses {
		for _, to := range jobs.AllStatuses {
			t.Run(fmt.Sprintf("%s_to_%s", from, to), func(t *testing.T) {
				j, err := store.Insert(ctx, jobs.NewJob{Institution: "DEMO", Type: "noop", SubmittedBy: "t", PriorityClass: "default"}, nil)
				require.NoError(t, err)
				// Put the job in `from` directly (the test's own setup).
				_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = $2 WHERE id = $1`, j.ID, string(from))
				require.NoError(t, err)

				err = store.Transition(ctx, db.Pool, j.ID, to, "")
				if jobs.CanTransition(from, to) {
					require.NoError(t, err)
					require.False(t, from.Terminal(), "a terminal status must have no way out")
				} else {
					var te *jobs.TransitionError
					require.True(t, errors.As(err, &te), "want TransitionError, got %v", err)
					require.Equal(t, from, te.From)
				}
				var got jobs.Status
				require.NoError(t, db.Pool.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, j.ID).Scan(&got))
				if jobs.CanTransition(from, to) {
					require.Equal(t, to, got)
				} else {
					require.Equal(t, from, got)
				}
			})
		}
	}
}

// TestTerminalTrigger: even a raw UPDATE cannot leave a terminal status.
func TestTerminalTrigger(t *testing.T) {
	db := testenv.NewDatabase(t)
	store := jobs.NewStore(db.Pool)
	ctx := context.Background()
	for _, s := range jobs.AllStatuses {
		if !s.Terminal() {
			continue
		}
		j, err := store.Insert(ctx, jobs.NewJob{Institution: "DEMO", Type: "noop", SubmittedBy: "t", PriorityClass: "default"}, nil)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = $2 WHERE id = $1`, j.ID, string(s))
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = 'RUNNING' WHERE id = $1`, j.ID)
		require.ErrorContains(t, err, "is terminal", "status %s", s)
	}
}

func TestEveryStatusIsReachable(t *testing.T) {
	for _, s := range jobs.AllStatuses {
		if s == jobs.Pending || s == jobs.Queued {
			continue // entry statuses
		}
		require.NotEmpty(t, jobs.AllowedFrom(s), "no way into %s", s)
	}
}
