package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/marc"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	data := func(tag, a string) marc.Field {
		return marc.Field{Tag: tag, Ind1: '1', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: a}}}
	}
	from := &marc.Record{Fields: []marc.Field{{Tag: "001", Value: "x1"}, data("245", "Old title"), data("590", "Local note"), data("650", "Jazz"), data("650", "Jazz")}}
	to := &marc.Record{Fields: []marc.Field{{Tag: "001", Value: "x1"}, data("245", "New title"), data("590", "Local note"), data("650", "Jazz")}}
	require.Equal(t, []string{"-245 1_ $aOld title", "+245 1_ $aNew title", "-650 1_ $aJazz"}, catalog.Diff(from, to))
	require.Empty(t, catalog.Diff(to, to))
}
