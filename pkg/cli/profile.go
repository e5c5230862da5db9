package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/bindery/bindery/pkg/config"
)

func newProfileCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "List and show the import profiles of Metadata Import (from the configuration)",
		Long: `Import profiles live in the configuration file (import_profiles). These
commands read it directly; no server is needed.`,
	}
	cmd.AddCommand(newProfileListCmd(env), newProfileShowCmd(env))
	return cmd
}

func newProfileListCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var institution, output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the import profiles",
		Example: "  bindery profile list --institution DEMO",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			var list []config.ImportProfile
			for _, p := range cat.ImportProfiles {
				if institution == "" || p.Institution == "*" || p.Institution == institution {
					list = append(list, p)
				}
			}
			switch output {
			case "json":
				if list == nil {
					list = []config.ImportProfile{}
				}
				return writeJSONOut(env.Stdout, list)
			case "table":
			default:
				return fmt.Errorf("unknown --output %q (choose table, json)", output)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tINSTITUTION\tRECORDS\tFORMAT\tRULES\tNAME")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Institution, p.RecordType, p.SourceFormat, p.MatchSummary(), p.Name)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&b.configPath, "config", "", "configuration file (env BINDERY_CONFIG; default config/bindery.yaml, else the built-in one)")
	cmd.Flags().StringVar(&institution, "institution", "", "only the profiles this institution may use")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func newProfileShowCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var output string
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one import profile in full",
		Example: "  bindery profile show vendor-bibs",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			for _, p := range cat.ImportProfiles {
				if p.ID != args[0] {
					continue
				}
				switch output {
				case "json":
					return writeJSONOut(env.Stdout, p)
				case "yaml":
					enc := yaml.NewEncoder(env.Stdout)
					enc.SetIndent(2)
					if err := enc.Encode(p); err != nil {
						return err
					}
					return enc.Close()
				default:
					return fmt.Errorf("unknown --output %q (choose yaml, json)", output)
				}
			}
			var ids []string
			for _, p := range cat.ImportProfiles {
				ids = append(ids, p.ID)
			}
			return fmt.Errorf("no import profile %q (known: %v)", args[0], ids)
		},
	}
	cmd.Flags().StringVar(&b.configPath, "config", "", "configuration file (env BINDERY_CONFIG; default config/bindery.yaml, else the built-in one)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml, json")
	return cmd
}
