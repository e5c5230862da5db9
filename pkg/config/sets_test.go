package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
)

func TestSetContentNeedsASetParameter(t *testing.T) {
	base := string(shipped.Default)
	// import-revert's one parameter is a required int named "job".
	withContent := strings.Replace(base, "    waits_for: [metadata-import]\n", "    waits_for: [metadata-import]\n    set_content: bib\n", 1)
	require.NotEqual(t, base, withContent)
	_, err := config.Parse("bindery.yaml", []byte(withContent))
	require.ErrorContains(t, err, `set_content: a job type that runs on a set needs a required int parameter named "set"`)

	ok := strings.Replace(withContent, "      - name: job\n        type: int\n        required: true\n", "      - name: set\n        type: int\n        required: true\n", 1)
	c, err := config.Parse("bindery.yaml", []byte(ok))
	require.NoError(t, err)
	jt, _ := c.JobType("import-revert")
	require.Equal(t, "bib", jt.SetContent)

	bad := strings.Replace(ok, "set_content: bib", "set_content: serials", 1)
	_, err = config.Parse("bindery.yaml", []byte(bad))
	require.ErrorContains(t, err, `set_content: "serials" is not one of bib, authority, item, user, po_line`)
}
