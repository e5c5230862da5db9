package catalog_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

func TestNormalizeISBN(t *testing.T) {
	for in, want := range map[string]string{
		"0-316-06625-X (pbk.)": "",              // bad check digit
		"0316066257":           "9780316066259", // ISBN-10 to 13
		"0-8044-2957-X":        "9780804429573",
		"080442957x : $4.95":   "9780804429573",
		"978-0-316-06625-9":    "9780316066259",
		"9780316066250":        "", // bad check digit
		"2130354467":           "9782130354468",
		"(pbk.)":               "",
		"12345":                "",
	} {
		require.Equal(t, want, catalog.NormalizeISBN(in), in)
	}
}

func TestNormalizeISSN(t *testing.T) {
	for in, want := range map[string]string{
		"0378-5955":   "0378-5955",
		"0378 5955":   "",
		"03785955":    "0378-5955",
		"2434-561x":   "2434-561X",
		"0378-5954":   "",
		"1234-567":    "",
		"0317-8471 ;": "0317-8471",
	} {
		require.Equal(t, want, catalog.NormalizeISSN(in), in)
	}
}

func TestNormalizeSystemNumber(t *testing.T) {
	for in, want := range map[string]string{
		"(OCoLC)ocm00012345": "(OCOLC)12345",
		"(OCoLC)ocn12345":    "(OCOLC)12345",
		"(OCoLC) 12345":      "(OCOLC)12345",
		"(Sirsi) a353305":    "(SIRSI)a353305",
		"  ":                 "",
		"12345":              "12345",
	} {
		require.Equal(t, want, catalog.NormalizeSystemNumber(in), in)
	}
}

func rec(fields ...marc.Field) *marc.Record { return &marc.Record{Fields: fields} }

func df(tag string, sub ...string) marc.Field {
	f := marc.Field{Tag: tag, Ind1: ' ', Ind2: ' '}
	for i := 0; i+1 < len(sub); i += 2 {
		f.AddSubfield(sub[i][0], sub[i+1])
	}
	return f
}

func TestKeysAndTitle(t *testing.T) {
	r := rec(marc.Field{Tag: "001", Value: "ocm123"}, marc.Field{Tag: "003", Value: "OCoLC"},
		df("020", "a", "0316066257", "q", "pbk."), df("020", "a", "978-0-316-06625-9"),
		df("022", "a", "0378-5955"), df("035", "a", "(OCoLC)ocm00000123"), df("035", "z", "(OCoLC)999"),
		df("245", "a", "The title :", "b", "a subtitle /", "c", "by someone."))
	require.Equal(t, []catalog.Key{{"001", "OCOLC|ocm123"}, {"isbn", "9780316066259"}, {"issn", "0378-5955"}, {"035", "(OCOLC)123"}},
		catalog.Keys(r))
	require.Equal(t, "The title : a subtitle", catalog.Title(r))
	require.Equal(t, "|x1", catalog.ControlKey(rec(marc.Field{Tag: "001", Value: "x1"})))
}

func tags(r *marc.Record) []string {
	var out []string
	for _, f := range r.Fields {
		v := f.Value
		if v == "" {
			v, _ = f.FirstSubfield('a')
		}
		out = append(out, f.Tag+"="+v)
	}
	return out
}

func TestMerge(t *testing.T) {
	existing := rec(marc.Field{Tag: "001", Value: "1"}, df("245", "a", "Old"), df("590", "a", "local note"), df("949", "a", "local"))
	incoming := rec(marc.Field{Tag: "001", Value: "1"}, df("245", "a", "New"), df("500", "a", "vendor note"), df("590", "a", "vendor 590"))

	keep := catalog.Merge(existing, incoming, config.MergeRules{KeepFromExisting: []string{"590", "9XX"}})
	require.Equal(t, []string{"001=1", "245=New", "500=vendor note", "590=local note", "949=local"}, tags(keep))

	take := catalog.Merge(existing, incoming, config.MergeRules{TakeFromIncoming: []string{"5XX"}})
	require.Equal(t, []string{"001=1", "245=Old", "500=vendor note", "590=vendor 590", "949=local"}, tags(take))
	require.Equal(t, []string{"001=1", "245=Old", "590=local note", "949=local"}, tags(existing), "inputs unchanged")
}

// TestTitleAndHeadingAsDefined: Title and Heading give, for every record of
// the shared test files and for white space of every kind, what their
// definition says: the subfields joined, white space collapsed to one
// space, trailing ISBD punctuation trimmed.
func TestTitleAndHeadingAsDefined(t *testing.T) {
	defined := func(f *marc.Field, codes ...byte) string {
		return strings.TrimRight(strings.Join(strings.Fields(strings.Join(f.SubfieldValues(codes...), " ")), " "), " /:;,=.")
	}
	recs := []*marc.Record{
		rec(df("245", "a", "  Spaced\tout\u00a0title\u2003:  ", "b", "", "c", "by x", "b", " sub\ntitle /")),
		rec(df("245", "c", "only a $c")),
		rec(df("245", "a", " /:;,=. ")),
		rec(df("100", "a", "Bach, Johann Sebastian,", "d", "1685-1750.")),
		rec(marc.Field{Tag: "001", Value: "no title"}),
	}
	recs = append(recs, readRecords(t, "jazz_1k.mrc")...)
	recs = append(recs, readRecords(t, "lul_fre_100.mrc")...)
	require.Greater(t, len(recs), 1000)
	for _, r := range recs {
		want := ""
		if f := r.FirstField("245"); f != nil {
			want = defined(f, 'a', 'b')
		}
		require.Equal(t, want, catalog.Title(r))
		want = ""
		for i := range r.Fields {
			if f := &r.Fields[i]; f.Tag[0] == '1' && !f.IsControl() {
				want = defined(f)
				break
			}
		}
		require.Equal(t, want, catalog.Heading(r))
	}
}
