package config

import (
	"fmt"
	"slices"
	"strings"
)

// SetContents are the content types of sets (pkg/sets): what a job type's
// set_content may name.
var SetContents = []string{"bib", "authority", "item", "user", "po_line"}

// SetParam is the parameter that names the set a job runs on.
const SetParam = "set"

// validateSetContent: a job type that runs on a set (set_content) names a
// known content type and takes the set as a required int parameter "set".
// Submitting such a job checks the set's institution and content type.
func (c *Config) validateSetContent(bad func(field, format string, args ...any)) {
	for i, jt := range c.JobTypes {
		if jt.SetContent == "" {
			continue
		}
		f := fmt.Sprintf("job_types[%d].set_content", i)
		if !slices.Contains(SetContents, jt.SetContent) {
			bad(f, "%q is not one of %s", jt.SetContent, strings.Join(SetContents, ", "))
		}
		i := slices.IndexFunc(jt.Params, func(p Param) bool { return p.Name == SetParam })
		if i < 0 || jt.Params[i].Type != "int" || !jt.Params[i].Required {
			bad(f, "a job type that runs on a set needs a required int parameter named %q", SetParam)
		}
	}
}
