package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newEventCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var fields []string
	cmd := &cobra.Command{
		Use:   "event TYPE [--field k=v]...",
		Short: "Raise a workflow event; prints the ids of the jobs its triggers started",
		Long: `Events start workflow jobs: every trigger in the configuration whose "on" is
TYPE and whose "when" fields match runs its job for the token's institution.
Systems integrating with Bindery POST the same to /api/v1/events.`,
		Example: `  bindery event privacy.request
  bindery event po.submitted --field po_line=POL-1234`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload, err := parseKV("field", fields)
			if err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			ev, err := c.SendEvent(cmd.Context(), args[0], payload)
			if err != nil {
				return err
			}
			if len(ev.Jobs) == 0 {
				fmt.Fprintf(env.Stderr, "event %d recorded; no trigger matched it\n", ev.ID)
			}
			for _, j := range ev.Jobs {
				fmt.Fprintln(env.Stdout, j.ID)
				fmt.Fprintf(env.Stderr, "job %d %s %s %s\n", j.ID, j.Type, j.Status, j.Message)
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().StringArrayVarP(&fields, "field", "f", nil, "payload field name=value (repeatable)")
	return cmd
}

func newJobRerunCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	cmd := &cobra.Command{
		Use:   "rerun ID",
		Short: "Run a finished job again with the same type and parameters; prints the new id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			j, err := c.Rerun(cmd.Context(), id)
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, j.ID)
			if j.Status != "QUEUED" {
				fmt.Fprintf(env.Stderr, "job %d is %s: %s\n", j.ID, j.Status, j.Message)
			}
			return nil
		},
	}
	r.flags(cmd)
	return cmd
}
