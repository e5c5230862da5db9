package cli

import (
	"fmt"
	"time"

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

func newJobRevertCmd(env *Env) *cobra.Command {
	r := &remote{env: env}
	var wait bool
	cmd := &cobra.Command{
		Use:   "revert ID",
		Short: "Undo a Metadata Import: delete the records it created, restore those it changed",
		Long: `Submits an import-revert job (itself a job: follow it with "job watch") that puts
the catalog back as it was before metadata-import job ID. Records the import
created are deleted; records it merged or overlaid get their previous version
back (the current one is kept as a version of the revert). If a later job has
changed any of those records, the revert is refused and names them.`,
		Example: `  bindery job revert 42 --wait`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := r.jobClient(args[0])
			if err != nil {
				return err
			}
			orig, err := c.Get(cmd.Context(), id) // 404 for a job this token may not see
			if err != nil {
				return err
			}
			if orig.Type != "metadata-import" {
				return fmt.Errorf("job %d is a %s job; only a metadata-import can be reverted", id, orig.Type)
			}
			j, err := c.Submit(cmd.Context(), "import-revert", map[string]string{"job": fmt.Sprint(id)})
			if err != nil {
				return err
			}
			fmt.Fprintln(env.Stdout, j.ID)
			if !wait {
				return nil
			}
			final, err := follow(cmd, c, j.ID, env.Stderr, time.Second/2)
			if err != nil {
				return err
			}
			if !final.Status.Succeeded() {
				return &ExitError{Code: 1, Msg: fmt.Sprintf("revert job %d ended %s %s", final.ID, final.Status, final.Message)}
			}
			return nil
		},
	}
	r.flags(cmd)
	cmd.Flags().BoolVarP(&wait, "wait", "w", false, "follow the revert until it ends; exit 1 unless it succeeded")
	return cmd
}
