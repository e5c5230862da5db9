package catalog_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// skimAll skims the records (as Marshal writes them) for catalog.ReadsTag.
func skimAll(t *testing.T, recs []*marc.Record) []*marc.Skimmed {
	t.Helper()
	var out []*marc.Skimmed
	for _, rec := range recs {
		s, err := marc.SkimOf(rec, catalog.ReadsTag)
		require.NoError(t, err)
		// Marshal's bytes skim, unless they keep a problem (no fields).
		if again, _, err := new(marc.Decoder).Skim(marc.RawRecord{Bytes: s.Bytes}, catalog.ReadsTag); err == nil && again != nil {
			s = again
		}
		out = append(out, s)
	}
	return out
}

// TestReadsTag: a record skimmed for catalog.ReadsTag has the keys, control
// number, title and heading of the whole record.
func TestReadsTag(t *testing.T) {
	for _, name := range []string{"jazz_1k.mrc", "lul_fre_100.mrc", "bad_records.mrc"} {
		recs := readRecords(t, name)
		require.NotEmpty(t, recs)
		for i, s := range skimAll(t, recs) {
			whole, err := new(marc.Decoder).Unmarshal(s.Bytes)
			require.NoError(t, err)
			require.Equal(t, catalog.Keys(whole), catalog.Keys(s.Partial), "%s record %d", name, i+1)
			require.Equal(t, whole.ControlNumber(), s.Partial.ControlNumber())
			require.Equal(t, catalog.Title(whole), catalog.Title(s.Partial))
			require.Equal(t, catalog.Heading(whole), catalog.Heading(s.Partial))
		}
	}
}

// TestMergeSkimmed: MergeSkimmed writes what Marshal writes for Merge's
// record, by either kind of rule, for pairs of real records.
func TestMergeSkimmed(t *testing.T) {
	recs := append(readRecords(t, "jazz_1k.mrc")[:300], readRecords(t, "lul_fre_100.mrc")...)
	skims := skimAll(t, recs)
	for _, rules := range []config.MergeRules{
		{KeepFromExisting: []string{"590", "9XX"}},
		{KeepFromExisting: []string{"245", "1XX", "035"}},
		{TakeFromIncoming: []string{"5XX", "020"}},
		{},
	} {
		for i := 1; i < len(recs); i++ {
			want, err := marc.Marshal(catalog.Merge(recs[i-1], recs[i], rules))
			require.NoError(t, err)
			got, err := catalog.MergeSkimmed(skims[i-1], skims[i], rules)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got.Bytes), "%+v, records %d and %d", rules, i, i+1)
			whole, err := new(marc.Decoder).Unmarshal(got.Bytes)
			require.NoError(t, err)
			require.Equal(t, catalog.Keys(whole), catalog.Keys(got.Partial))
			require.Equal(t, catalog.Title(whole), catalog.Title(got.Partial))
		}
	}
}
