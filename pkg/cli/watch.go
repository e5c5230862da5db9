package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/jobs"
)

func newJobWatchCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job until it ends: progress, counters, rate and estimated finish",
		Long: `On a terminal, draws a live progress bar with counters, the measured rate and an
estimated finish time. Otherwise (a pipe, a log) prints one plain line per
change. Exits 0 when the job ends COMPLETED_SUCCESS or COMPLETED_WARNING, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			final, err := follow(cmd, c, id, env.Stdout, interval)
			if err != nil {
				return err
			}
			if !final.Status.Succeeded() {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("job %d ended %s %s", final.ID, final.Status, final.Message)}
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().DurationVar(&interval, "interval", time.Second/2, "how often to poll the server (more often, every 0.1 s, when the job is about to end)")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// rateMeter measures records per second from successive observations,
// smoothed so one slow poll does not swing the estimate.
type rateMeter struct {
	lastAt    time.Time
	lastDone  int64
	rate      float64
	changedAt time.Time // when progress last moved
}

// stalledFor is how long progress has not moved (0 while it moves).
func (m *rateMeter) stalledFor(now time.Time) time.Duration {
	if m.changedAt.IsZero() {
		return 0
	}
	return now.Sub(m.changedAt)
}

func (m *rateMeter) observe(at time.Time, done int64) {
	if m.changedAt.IsZero() || done != m.lastDone {
		m.changedAt = at
	}
	if !m.lastAt.IsZero() && at.After(m.lastAt) && done >= m.lastDone {
		inst := float64(done-m.lastDone) / at.Sub(m.lastAt).Seconds()
		if m.rate == 0 {
			m.rate = inst
		} else {
			m.rate = 0.7*m.rate + 0.3*inst
		}
	}
	m.lastAt, m.lastDone = at, done
}

// follow polls a job until it reaches a terminal status, drawing progress to
// w, and returns the final job.
func follow(cmd *cobra.Command, c *client.Client, id int64, w io.Writer, interval time.Duration) (*jobs.Job, error) {
	tty := isTerminal(w)
	var meter rateMeter
	lastLine := ""
	for {
		j, err := c.Get(cmd.Context(), id)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		var done int64
		if j.Progress != nil {
			done = j.Progress.DoneRecords
		}
		meter.observe(now, done)
		line := progressLine(j, meter.rate, meter.stalledFor(now), now)
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
		} else if line != lastLine {
			fmt.Fprintln(w, line)
		}
		lastLine = line
		if j.Status.Terminal() {
			if tty {
				fmt.Fprintln(w)
			}
			return j, nil
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-time.After(nextPoll(j, meter.rate, interval)):
		}
	}
}

// soonPoll is how often follow polls a job about to end.
const soonPoll = 100 * time.Millisecond

// nextPoll is how long follow waits before polling again: the interval, or
// less when the job is about to end (every record done, finalizing, or the
// rate says it ends before the interval is up), so `--wait` and `watch`
// return within ~soonPoll of the end, not up to a whole interval later.
func nextPoll(j *jobs.Job, rate float64, interval time.Duration) time.Duration {
	var done int64
	if j.Progress != nil {
		done = j.Progress.DoneRecords
	}
	switch {
	case j.Status == jobs.Finalizing, j.Status == jobs.Running && j.TotalRecords > 0 && done >= j.TotalRecords:
		return min(interval, soonPoll)
	case j.Status == jobs.Running && rate > 0 && j.TotalRecords > done:
		eta := time.Duration(float64(j.TotalRecords-done) / rate * float64(time.Second))
		return min(interval, max(eta, soonPoll))
	}
	return interval
}

func progressLine(j *jobs.Job, rate float64, stalled time.Duration, now time.Time) string {
	var b strings.Builder
	pct := 0.0
	var done int64
	if j.Progress != nil {
		pct, done = j.Progress.Percent, j.Progress.DoneRecords
	}
	const width = 24
	filled := int(pct / 100 * width)
	fmt.Fprintf(&b, "job %d %-17s [%s%s] %5.1f%% %d/%d", j.ID, j.Status,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, done, j.TotalRecords)
	switch {
	case j.Status == jobs.Running && stalled >= 5*time.Second:
		// A rate measured before a stall would promise a finish that is not coming.
		fmt.Fprintf(&b, "  no progress for %s", stalled.Round(time.Second))
	case j.Status == jobs.Running && rate > 0 && j.TotalRecords > done:
		fmt.Fprintf(&b, "  %.0f rec/s", rate)
		if left := j.TotalRecords - done; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s (%s)", eta.Round(time.Second), now.Add(eta).Local().Format("15:04:05"))
		}
	}
	for _, k := range sortedKeys(j.Counters) {
		fmt.Fprintf(&b, "  %s=%d", k, j.Counters[k])
	}
	return b.String()
}
