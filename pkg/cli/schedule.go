package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/client"
	"github.com/bindery/bindery/pkg/schedule"
)

func newScheduleCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Schedule jobs: every N hours, daily, weekly or monthly, in the institution's time zone",
		Long: `A schedule runs one job type for the token's institution at predefined times,
evaluated in the institution's time zone (DST handled: a time that does not
exist runs once just after the change, a time that happens twice runs once).
Scheduled jobs pass the dependency guard like any other. An occurrence missed
while every server was down runs once at recovery (--missed run_once) or not
at all (--missed skip).`,
	}
	cmd.AddCommand(newScheduleListCmd(env), newScheduleShowCmd(env), newScheduleSetCmd(env),
		newScheduleToggleCmd(env, "enable"), newScheduleToggleCmd(env, "disable"), newScheduleRunNowCmd(env))
	return cmd
}

func printSchedules(w io.Writer, list []*schedule.Schedule) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTITUTION\tJOB TYPE\tWHEN\tENABLED\tNEXT RUN\tLAST RUN\tLAST RESULT")
	for _, sc := range list {
		last := ""
		if sc.LastRunAt != nil {
			last = sc.LastRunAt.Local().Format("2006-01-02 15:04")
		}
		next := sc.NextRunAt.Local().Format("2006-01-02 15:04 MST")
		if !sc.Enabled {
			next = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", sc.Institution, sc.JobType, sc.Description, sc.Enabled, next, last, sc.LastMessage)
	}
	return tw.Flush()
}

func newScheduleListCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the schedules visible to the token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd.Context(), r, (*client.Client).Schedules, printSchedules)
		},
	}
	r.flags(cmd, "table", "json")
	return cmd
}

func newScheduleShowCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var institution string
	cmd := &cobra.Command{
		Use:   "show TYPE",
		Short: "Show the schedule of a job type",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd.Context(), r, func(c *client.Client, ctx context.Context) (*schedule.Schedule, error) {
				return c.Schedule(ctx, args[0], institution)
			}, func(w io.Writer, sc *schedule.Schedule) error { return printSchedules(w, []*schedule.Schedule{sc}) })
		},
	}
	r.flags(cmd, "table", "json")
	cmd.Flags().StringVar(&institution, "institution", "", "member institution (network-monitor tokens)")
	return cmd
}

func newScheduleSetCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var everyHours int
	var daily, weekly, monthly, missed string
	var params []string
	cmd := &cobra.Command{
		Use:   "set TYPE (--every-hours N | --daily HH:MM | --weekly 'DAY HH:MM' | --monthly 'D HH:MM')",
		Short: "Create or replace the schedule of a job type",
		Example: `  bindery schedule set loan-anonymization --daily 02:30
  bindery schedule set loan-anonymization --weekly "sunday 03:00" --param retention_days=30
  bindery schedule set noop --every-hours 6 --missed skip
  bindery schedule set loan-anonymization --monthly "1 04:00"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec schedule.Spec
			chosen := 0
			if everyHours != 0 {
				spec, chosen = schedule.Spec{Kind: "every_hours", EveryHours: everyHours}, chosen+1
			}
			if daily != "" {
				spec, chosen = schedule.Spec{Kind: "daily", At: daily}, chosen+1
			}
			if weekly != "" {
				day, at, _ := strings.Cut(strings.TrimSpace(weekly), " ")
				spec, chosen = schedule.Spec{Kind: "weekly", Weekday: day, At: strings.TrimSpace(at)}, chosen+1
			}
			if monthly != "" {
				d, at, _ := strings.Cut(strings.TrimSpace(monthly), " ")
				n, err := strconv.Atoi(d)
				if err != nil {
					return fmt.Errorf("--monthly %q: expected 'DAY HH:MM', e.g. '1 04:00'", monthly)
				}
				spec, chosen = schedule.Spec{Kind: "monthly", MonthDay: n, At: strings.TrimSpace(at)}, chosen+1
			}
			if chosen != 1 {
				return fmt.Errorf("give exactly one of --every-hours, --daily, --weekly, --monthly")
			}
			kv, err := parseKV("param", params)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			sc, err := c.SetSchedule(cmd.Context(), args[0], schedule.SetRequest{Spec: spec, Params: kv, MissedPolicy: missed})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s for %s: %s; next run %s\n", sc.JobType, sc.Institution, sc.Description,
				sc.NextRunAt.Local().Format(time.RFC1123))
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().IntVar(&everyHours, "every-hours", 0, "run every N hours")
	cmd.Flags().StringVar(&daily, "daily", "", "run daily at HH:MM (institution time)")
	cmd.Flags().StringVar(&weekly, "weekly", "", "run weekly: 'DAY HH:MM', e.g. 'sunday 03:00'")
	cmd.Flags().StringVar(&monthly, "monthly", "", "run monthly: 'D HH:MM' (day clipped to the month's end)")
	cmd.Flags().StringVar(&missed, "missed", "run_once", "an occurrence missed while every server was down: run_once or skip")
	cmd.Flags().StringArrayVarP(&params, "param", "p", nil, "job parameter name=value (repeatable)")
	return cmd
}

func newScheduleToggleCmd(env *Env, action string) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   action + " TYPE",
		Short: strings.ToUpper(action[:1]) + action[1:] + " the schedule of a job type",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			sc, err := c.ScheduleAction(cmd.Context(), args[0], action)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s for %s: %sd (%s)\n", sc.JobType, sc.Institution, action, sc.Description)
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}

func newScheduleRunNowCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "run-now TYPE",
		Short: "Run a scheduled job at once (its schedule is unchanged); prints the job id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			j, err := c.RunScheduleNow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, j.ID)
			if j.Status == "SKIPPED" || j.Status == "PENDING" {
				fmt.Fprintf(env.Stderr, "job %d is %s: %s\n", j.ID, j.Status, j.Message)
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
