package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/fair"
)

func newCapacityCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "Show, now, each institution's share, running chunks, peak cap and the bulk admission rate",
		Long: `The admission controller's view of the fleet, as the engine leader last
published it (every second): per institution its weight and share of
admissions, its running jobs and chunks, whether it is in its peak hours and
the cap on its bulk work then; and the load-aware admission rate of the bulk
class with the reason for it.`,
		Example: `  bindery capacity
  bindery capacity --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd.Context(), r, (*client.Client).Capacity, printCapacity)
		},
	}
	r.flags(cmd, "table", "json")
	return cmd
}

func printCapacity(w io.Writer, rep *fair.Capacity) error {
	fmt.Fprintf(w, "fleet: %d worker slots, %d chunks in flight of %d now (fleet_window %d; %.0f chunks/s) as of %s\n",
		rep.FleetSlots, rep.InFlight, rep.Pipeline, rep.FleetWindow, rep.ChunkRate, rep.At.Format("2006-01-02 15:04:05 MST"))
	rate := "unlimited"
	if rep.Bulk.Limited {
		rate = fmt.Sprintf("%.1f chunks/s", rep.Bulk.Rate)
	}
	fmt.Fprintf(w, "bulk admission: %s (%s)\n\n", rate, rep.Bulk.Reason)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTITUTION\tWEIGHT\tSHARE\tNOW\tJOBS\tIN FLIGHT\tRUNNING\tLOCAL TIME\tPEAK\tBULK CAP")
	for _, ic := range rep.Institutions {
		now := "-"
		if ic.RunningJobs > 0 {
			now = pct(ic.ActiveShare)
		}
		peak, bulkCap := "no", "none"
		if ic.InPeak {
			peak = "yes"
			bulkCap = fmt.Sprintf("%d/%d slots", ic.BulkHeld, ic.BulkCap)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s %s\t%s\t%s\n", ic.Institution, ic.Weight, pct(ic.Share), now,
			ic.RunningJobs, ic.InFlight, ic.Running, ic.LocalTime, ic.TimeZone, peak, bulkCap)
	}
	return tw.Flush()
}

func pct(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func newJobPriorityCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "priority ID high|normal|low",
		Short: "Change a job's priority (operators): high runs critical, low runs bulk",
		Long: `An operator's override of a job's priority class, for its next admissions:
high runs the job in the critical queue (never capped, weighted first among its
institution's jobs), low in the bulk queue (capped in peak hours), normal in
its job type's own class.`,
		Example: `  bindery job priority 42 high`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			prio := strings.ToLower(args[1])
			switch prio {
			case config.PriorityHigh, config.PriorityNormal, config.PriorityLow:
			default:
				return fmt.Errorf("priority %q: choose high, normal or low", args[1])
			}
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			j, err := c.SetPriority(cmd.Context(), id, prio)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "job %d priority %s (class %s)\n", j.ID, j.Priority, j.PriorityClass)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
