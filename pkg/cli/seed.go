package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/migrate"
	"github.com/bindery/bindery/pkg/seed"
)

func newSeedCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "seed", Short: "Create demo data (talks to PostgreSQL directly)"}
	b := &backend{env: env}
	var loans int64
	var institution string
	var reset bool
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Create users, items and loans for an institution",
		Long: `Adds --loans loans (and the users and items they need) to an institution:
70% returned one to three years ago (due for anonymization), 15% returned in
the last ten days, 15% still open. Applies migrations first.`,
		Example: `  bindery seed demo --loans 100000
  bindery seed demo --institution DEMO2 --loans 1000000 --reset`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := b.catalog()
			if err != nil {
				return err
			}
			if _, ok := cfg.Institution(institution); !ok {
				return fmt.Errorf("unknown institution %q (see the institutions in the configuration)", institution)
			}
			if loans < 0 {
				return fmt.Errorf("--loans must not be negative")
			}
			pool, err := b.pool(cmd.Context(), true)
			if err != nil {
				return err
			}
			defer pool.Close()
			if _, err := migrate.Up(cmd.Context(), pool); err != nil {
				return err
			}
			c, err := seed.Demo(cmd.Context(), pool, institution, loans, reset)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s: %d loans added (%d returned long ago, %d returned recently, %d open); %d new users, %d new items\n",
				institution, c.Loans, c.ReturnedLongAgo, c.RecentlyReturned, c.Open, c.Users, c.Items)
			return nil
		},
	}
	demo.Flags().Int64Var(&loans, "loans", 10000, "number of loans to create")
	demo.Flags().StringVar(&institution, "institution", "DEMO", "institution to seed")
	demo.Flags().BoolVar(&reset, "reset", false, "delete the institution's loans first")
	b.flags(demo, false)
	cmd.AddCommand(demo)
	return cmd
}
