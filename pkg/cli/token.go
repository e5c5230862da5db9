package cli

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bindery/bindery/pkg/auth"
)

func newTokenCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and revoke API tokens (talks to PostgreSQL directly)",
	}
	b := &backend{env: env}
	var p auth.Principal
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --institution ID --role staff|operator --user NAME",
		Short: "Issue a token; it is printed once and stored only as a hash",
		Example: `  bindery token create --institution DEMO --role staff --user jsmith
  bindery token create --network DEMO-NET --role network-monitor --user nz-admin
  export BINDERY_TOKEN=$(bindery token create --institution DEMO --role operator --user ops)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := b.catalog()
			if err != nil {
				return err
			}
			if p.Institution != "" {
				if _, ok := cfg.Institution(p.Institution); !ok {
					return fmt.Errorf("unknown institution %q (see the institutions in the configuration)", p.Institution)
				}
			}
			if p.Network != "" && !cfg.HasNetwork(p.Network) {
				return fmt.Errorf("unknown network %q (see the networks in the configuration)", p.Network)
			}
			pool, err := b.pool(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer pool.Close()
			token, id, err := (&auth.Tokens{Pool: pool}).Create(cmd.Context(), p)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(map[string]any{"id": id, "token": token,
					"institution": p.Institution, "network": p.Network, "role": p.Role, "user": p.User})
			}
			fmt.Fprintln(env.Stdout, token)
			fmt.Fprintf(env.Stderr, "token %d for %s (%s) created; it is not shown again\n", id, p.User, p.Role)
			return nil
		},
	}
	create.Flags().StringVar(&p.Institution, "institution", "", "institution the token is bound to (staff, operator)")
	create.Flags().StringVar(&p.Network, "network", "", "network the token is bound to (network-monitor)")
	create.Flags().StringVar(&p.Role, "role", "staff", "staff, operator or network-monitor")
	create.Flags().StringVar(&p.User, "user", "", "who the token is for (recorded as submitted_by)")
	create.Flags().BoolVar(&asJSON, "json", false, "print the token and its id as JSON")
	b.flags(create, false)

	rb := &backend{env: env}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by its id (printed by create)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("token id %q is not a number", args[0])
			}
			pool, err := rb.pool(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer pool.Close()
			ok, err := (&auth.Tokens{Pool: pool}).Revoke(cmd.Context(), id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no live token with id %d", id)
			}
			fmt.Fprintf(env.Stdout, "token %d revoked\n", id)
			return nil
		},
	}
	rb.flags(revoke, false)
	cmd.AddCommand(create, revoke)
	return cmd
}
