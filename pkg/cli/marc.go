package cli

import "github.com/spf13/cobra"

// newMarcCmd is the MARC toolbox (dump, convert, validate, count). Owned by the
// MARC codec work; this placeholder keeps the tree building until it lands.
func newMarcCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "marc", Short: "MARC file toolbox (dump, convert, validate, count)"}
}
