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
		Short: "List and show the import profiles of Metadata Import and the publishing profiles of General Publishing (from the configuration)",
		Long: `Import profiles (import_profiles) and publishing profiles (publishing_profiles)
live in the configuration file. These commands read it directly; no server
is needed.`,
	}
	cmd.AddCommand(newProfileListCmd(env), newProfileShowCmd(env))
	return cmd
}

func newProfileListCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var institution, output, kind string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the import and publishing profiles",
		Example: "  bindery profile list --institution DEMO",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			if kind != "all" && kind != "import" && kind != "publishing" {
				return fmt.Errorf("unknown --kind %q (choose all, import, publishing)", kind)
			}
			var list []config.ImportProfile
			for _, p := range cat.ImportProfiles {
				if kind != "publishing" && (institution == "" || p.Institution == "*" || p.Institution == institution) {
					list = append(list, p)
				}
			}
			var pub []config.PublishingProfile
			for _, p := range cat.PublishingProfiles {
				if kind != "import" && (institution == "" || p.Institution == "*" || p.Institution == institution) {
					pub = append(pub, p)
				}
			}
			switch output {
			case "json":
				if list == nil {
					list = []config.ImportProfile{}
				}
				if pub == nil {
					pub = []config.PublishingProfile{}
				}
				switch kind {
				case "import":
					return writeJSONOut(env.Stdout, list)
				case "publishing":
					return writeJSONOut(env.Stdout, pub)
				}
				return writeJSONOut(env.Stdout, map[string]any{"import": list, "publishing": pub})
			case "table":
			default:
				return fmt.Errorf("unknown --output %q (choose table, json)", output)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tINSTITUTION\tRECORDS\tFORMAT\tRULES\tNAME")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\timport\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Institution, p.RecordType, p.SourceFormat, p.MatchSummary(), p.Name)
			}
			for _, p := range pub {
				fmt.Fprintf(tw, "%s\tpublishing\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Institution, p.Records, p.Format, p.Summary(), p.Name)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&b.configPath, "config", "", "configuration file (env BINDERY_CONFIG; default config/bindery.yaml, else the built-in one)")
	cmd.Flags().StringVar(&institution, "institution", "", "only the profiles this institution may use")
	cmd.Flags().StringVar(&kind, "kind", "all", "which profiles: all, import, publishing")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json")
	return cmd
}

func newProfileShowCmd(env *Env) *cobra.Command {
	b := &backend{env: env}
	var output string
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one import or publishing profile in full",
		Example: "  bindery profile show vendor-bibs",
		Args:    cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			cat, err := b.catalog()
			if err != nil {
				return err
			}
			var found any
			for _, p := range cat.ImportProfiles {
				if p.ID == args[0] {
					found = p
				}
			}
			for _, p := range cat.PublishingProfiles {
				if p.ID == args[0] && found == nil {
					found = p
				}
			}
			if found == nil {
				var ids []string
				for _, p := range cat.ImportProfiles {
					ids = append(ids, p.ID)
				}
				for _, p := range cat.PublishingProfiles {
					ids = append(ids, p.ID)
				}
				return fmt.Errorf("no import or publishing profile %q (known: %v)", args[0], ids)
			}
			switch output {
			case "json":
				return writeJSONOut(env.Stdout, found)
			case "yaml":
				enc := yaml.NewEncoder(env.Stdout)
				enc.SetIndent(2)
				if err := enc.Encode(found); err != nil {
					return err
				}
				return enc.Close()
			default:
				return fmt.Errorf("unknown --output %q (choose yaml, json)", output)
			}
		},
	}
	cmd.Flags().StringVar(&b.configPath, "config", "", "configuration file (env BINDERY_CONFIG; default config/bindery.yaml, else the built-in one)")
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml, json")
	return cmd
}
