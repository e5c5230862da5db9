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
	cmd.AddCommand(demo, newSeedMARCCmd(env))
	return cmd
}

func newSeedMARCCmd(env *Env) *cobra.Command {
	var records int64
	var out string
	var sources []string
	cmd := &cobra.Command{
		Use:   "marc",
		Short: "Write an N-record MARC21 file made of real records with unique ids",
		Long: `Replicates real bibliographic records (by default the project's copies of
jazz_1k.mrc, lul_fre_100.mrc and concerto_bibs.xml, relative to the working
directory) into --records records of ISO 2709 (UTF-8), each with a unique 001
("bnd" and its ordinal), 003 ` + seed.MARCOrg + `, 035 and ISBN. Record i is the same in
every generated file, so a shorter file is the start of a longer one. Memory
stays constant whatever the size.`,
		Example: `  bindery seed marc --records 1000000 --out /tmp/bibs-1m.mrc`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if records <= 0 {
				return fmt.Errorf("--records must be positive")
			}
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			size, err := seed.MARCFile(out, records, sources...)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s: %d records, %d bytes\n", out, records, size)
			return nil
		},
	}
	cmd.Flags().Int64Var(&records, "records", 1000, "number of records to write")
	cmd.Flags().StringVar(&out, "out", "", "file to write")
	cmd.Flags().StringSliceVar(&sources, "source", nil, "template files (.xml: MARCXML, else ISO 2709); default the project's testdata/marc copies")
	return cmd
}
