package query

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/marc"
)

func sample(t testing.TB) []byte {
	t.Helper()
	rec := &marc.Record{}
	copy(rec.Leader[:], "00000njm a2200000 a 4500")
	rec.Fields = []marc.Field{
		{Tag: "001", Value: "03-0018137"},
		{Tag: "008", Value: "020121s1999    cauuuu              eng d"},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Friendly fire /"}, {Code: 'c', Value: "Joe Lovano."}}},
		{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Saxophone with jazz ensemble."}}},
		{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Musique de chambre."}, {Code: 'x', Value: "Café"}}},
	}
	b, err := marc.Marshal(rec)
	require.NoError(t, err)
	return b
}

func TestMatchMARCConditions(t *testing.T) {
	t.Parallel()
	raw := sample(t)
	cases := map[string]bool{
		`650 $a contains "JAZZ"`:                  true,
		`650 $a contains "café"`:                  false, // $x, not $a
		`650 contains "CAFÉ"`:                     true,  // any subfield, case folded
		"650 $x contains \"cafe\u0301\"":          true,  // NFD query, NFC record
		`650 $a = "saxophone with jazz ensemble"`: true,  // trailing period ignored
		`650 $a = "saxophone"`:                    false,
		`650 $a != "saxophone"`:                   true,
		`245 $c exists AND NOT 245 $b exists`:     true,
		`856 exists`:                              false,
		`NOT 856 exists`:                          true,
		`008/35-37 = "eng"`:                       true,
		`008/35-37 = "ENG"`:                       false, // positions compare exactly
		`008/38-45 = "x"`:                         false, // past the end
		`LDR/06 = "j" AND LDR/07 = "m"`:           true,
		`001 contains "0018"`:                     true,
		`001 exists`:                              true,
		`(650 $a contains "jazz" OR 650 $a contains "rock") AND NOT 650 $x = "cafe"`: true,
	}
	for q, want := range cases {
		p, err := Parse(q)
		require.NoError(t, err, q)
		require.True(t, p.UsesMARC(), q)
		got, err := p.Match(make([]bool, p.SQLConditions()), raw)
		require.NoError(t, err, q)
		require.Equal(t, want, got, q)
	}
}

func TestMatchUsesSQLConditionValues(t *testing.T) {
	t.Parallel()
	p, err := Parse(`suppressed OR (650 $a contains "jazz" AND NOT type = authority)`)
	require.NoError(t, err)
	raw := sample(t)
	for _, tc := range []struct {
		leaves []bool
		want   bool
	}{
		{[]bool{true, true}, true},
		{[]bool{false, false}, true},
		{[]bool{false, true}, false},
	} {
		got, err := p.Match(tc.leaves, raw)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.leaves)
	}
	_, err = p.Match([]bool{true}, raw)
	require.Error(t, err)
}

func TestMatchDamagedRecord(t *testing.T) {
	t.Parallel()
	p, err := Parse(`650 $a contains "jazz"`)
	require.NoError(t, err)
	raw := sample(t)
	// A base address that lies: recovered by the lenient reader.
	bad := append([]byte(nil), raw...)
	copy(bad[12:17], "99999")
	ok, err := p.Match(nil, bad)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = p.Match(nil, []byte("nonsense"))
	require.Error(t, err)
}

// FuzzParse: any text either parses, compiles and matches without a
// panic, or is refused with a position inside the query.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`all`, `650 $a contains "Jazz"`, `NOT (type = bib OR suppressed) AND created >= 2024-01-01`,
		`isbn = 0316066257 OR 035 = "(OCoLC)1"`, `LDR/06 = "j"`, `008/35-37 = eng`, `title contains "a \"b\""`, `((`, `$`, `"`} {
		f.Add(s)
	}
	raw := sample(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("%q: error %v is not *Error", s, err)
			}
			if e.Pos < 1 || e.Pos > utf8.RuneCountInString(s)+1 {
				t.Fatalf("%q: position %d outside the query", s, e.Pos)
			}
			return
		}
		a := NewArgs(Context{Institution: "X"}, "X", "bib")
		_ = q.Where(a)
		cols := q.LeafColumns(a)
		if len(cols) != q.SQLConditions() {
			t.Fatalf("%q: %d columns for %d conditions", s, len(cols), q.SQLConditions())
		}
		if _, err := q.Match(make([]bool, q.SQLConditions()), raw); err != nil {
			t.Fatalf("%q: match: %v", s, err)
		}
		// What parsed once parses again the same (stored queries are re-parsed).
		if _, err := Parse(q.String()); err != nil {
			t.Fatalf("%q: parses once but not twice: %v", s, err)
		}
	})
}
