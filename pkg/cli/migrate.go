package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/migrate"
)

func newMigrateCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or roll back the database schema",
		Long: `Bindery's schema is a series of numbered migrations built into the binary.
"bindery server" applies pending ones at start unless --no-migrate is given.`,
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (creates the database if missing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := b.pool(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer pool.Close()
			done, err := migrate.Up(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if len(done) == 0 {
				fmt.Fprintln(env.Stdout, "schema is up to date")
			}
			for _, m := range done {
				fmt.Fprintf(env.Stdout, "applied %04d_%s\n", m.Version, m.Name)
			}
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down [STEPS]",
		Short: "Roll back the last STEPS migrations (default 1)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			steps := 1
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return fmt.Errorf("STEPS must be a positive number, got %q", args[0])
				}
				steps = n
			}
			pool, err := b.pool(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer pool.Close()
			done, err := migrate.Down(cmd.Context(), pool, steps)
			if err != nil {
				return err
			}
			if len(done) == 0 {
				fmt.Fprintln(env.Stdout, "nothing to roll back")
			}
			for _, m := range done {
				fmt.Fprintf(env.Stdout, "rolled back %04d_%s\n", m.Version, m.Name)
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := b.pool(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer pool.Close()
			states, err := migrate.Status(cmd.Context(), pool)
			if err != nil {
				return err
			}
			for _, s := range states {
				at := "pending"
				if s.AppliedAt != nil {
					at = "applied " + s.AppliedAt.Format("2006-01-02 15:04:05 MST")
				}
				fmt.Fprintf(env.Stdout, "%04d_%-24s %s\n", s.Version, s.Name, at)
			}
			return nil
		},
	}
	for _, c := range []*cobra.Command{up, down, status} {
		b.flags(c, false)
		cmd.AddCommand(c)
	}
	return cmd
}
