package query

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseErrorsNameThePosition(t *testing.T) {
	t.Parallel()
	cases := []struct{ q, want string }{
		{``, `query: position 1: the query is empty (write "all" for every record)`},
		{`650 $a contains`, `query: position 16: expected a value after "contains", found the end of the query`},
		{`650 $a contains AND title contains x`, `query: position 17: expected a value after "contains", found "AND"`},
		{`titel contains "x"`, `query: position 1: unknown condition "titel" (expected title, type, created, updated, suppressed, 001, 035, isbn, issn, all, or a MARC tag such as 650 $a)`},
		{`title contains "jazz`, `query: position 16: the string starting here is never closed (missing ")`},
		{`(type = bib OR suppressed`, `query: position 26: expected ")" to close the "(" at position 1, found the end of the query`},
		{`type = bib)`, `query: position 11: ")" without a matching "("`},
		{`type = bib suppressed`, `query: position 12: expected AND, OR or the end of the query, found "suppressed"`},
		{`type = serial`, `query: position 8: unknown record type "serial" (bib or authority)`},
		{`created >= 2024-13-01`, `query: position 12: "2024-13-01" is not a date (YYYY-MM-DD) or a time (RFC 3339, e.g. 2024-05-01T14:00:00Z)`},
		{`created ~ 2024-01-01`, `query: position 9: unexpected character '~'`},
		{`updated 2024-01-01`, `query: position 9: expected "<=", ">=", "<", ">", "=" or "!=" after "updated", found "2024-01-01"`},
		{`isbn = "123"`, `query: position 8: "123" is not a valid ISBN (10 or 13 digits with a correct check digit)`},
		{`issn = 1234-5678`, `query: position 8: "1234-5678" is not a valid ISSN (NNNN-NNNC with a correct check digit)`},
		{`245/0-3 = "x"`, `query: position 1: positions (245/0-3) apply to control fields (001-009) and LDR only`},
		{`008 $a = "x"`, `query: position 5: 008 is a control field: it has no subfields`},
		{`LDR = "x"`, `query: position 1: a leader condition needs a position, e.g. LDR/06 = "j"`},
		{`LDR/30 = "x"`, `query: position 1: the leader has positions 00-23`},
		{`008/37-35 = "eng"`, `query: position 1: position range 008/37-35 ends before it starts`},
		{`650 $ contains "x"`, `query: position 5: expected a subfield code (a letter or digit) after "$"`},
		{`650 $a like "x"`, `query: position 8: expected "contains", "=", "!=" or "exists" after "650", found "like"`},
		{`NOT`, `query: position 4: expected a condition (title, type, created, updated, suppressed, 001, 035, isbn, issn, all, or a MARC tag such as 650 $a), found the end of the query`},
		{`AND type = bib`, `query: position 1: expected a condition before "AND"`},
		{`suppressed = maybe`, `query: position 14: "maybe" is not true or false`},
		{`title contains "--"`, `query: position 16: expected at least one word in the title condition`},
		{`650 $a contains "a\nb"`, `query: position 19: a backslash in a string escapes only " and \`},
		{`650 $a contains ""`, `query: position 17: expected a non-empty value after "contains"`},
		{`650 $a exists "x"`, `query: position 15: expected AND, OR or the end of the query, found the string "x"`},
		{`title contains "Ünïcode" OR 650 $a contains €`, `query: position 45: unexpected character '€'`},
		{strings.Repeat("(", 150) + "all" + strings.Repeat(")", 150), `query: position 101: the query nests deeper than 100 levels`},
	}
	for _, tc := range cases {
		_, err := Parse(tc.q)
		require.Error(t, err, tc.q)
		var e *Error
		require.ErrorAs(t, err, &e, tc.q)
		require.Equal(t, tc.want, err.Error(), tc.q)
	}
}

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		`all`,
		`650 $a contains "Jazz"`,
		`650 contains jazz and not suppressed`,
		`(isbn = "0-316-06625-7" OR 035 = "(OCoLC)ocm00012345") AND created >= 2024-01-01`,
		`title contains "blue note" AND updated < 2025-06-01T10:00:00+02:00 AND LDR/06 = "j"`,
		`008/35-37 = "eng" AND NOT 856 exists AND 245 $a != "Untitled"`,
		`001 = "DLC|  85012345" OR 001 = 03-0018137`,
		`suppressed = false AND type != authority AND created = 2024-02-29`,
		`650 $a contains "say \"hi\" \\ bye"`,
	} {
		_, err := Parse(q)
		require.NoError(t, err, q)
	}
}

// TestWhereIsParameterized: user values never reach the SQL text.
func TestWhereIsParameterized(t *testing.T) {
	t.Parallel()
	q, err := Parse(`title contains "x'); DROP TABLE records; --" OR 035 = "(A)'1" OR created = 2024-03-10`)
	require.NoError(t, err)
	ny, _ := time.LoadLocation("America/New_York")
	a := NewArgs(Context{Institution: "DEMO", Location: ny}, "DEMO", "bib")
	sql := q.Where(a)
	require.NotContains(t, sql, "DROP")
	require.NotContains(t, sql, "'1")
	require.Contains(t, a.Values(), any("x'); DROP TABLE records; --"))
	// The day is a day in the institution's time zone (EST before the DST change).
	require.Contains(t, a.Values(), any(time.Date(2024, 3, 10, 0, 0, 0, 0, ny)))
	require.Contains(t, a.Values(), any(time.Date(2024, 3, 11, 0, 0, 0, 0, ny)))
	require.False(t, q.UsesMARC())
}

// TestPrefilterIsANecessaryCondition: with MARC conditions, Where must let
// through every record the query could match, whatever the NOTs.
func TestPrefilterFolding(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`650 $a contains "x"`:                           "TRUE",
		`NOT 650 $a contains "x"`:                       "TRUE",
		`650 exists AND suppressed`:                     "(r.suppressed = $3::boolean)",
		`NOT (650 exists AND suppressed)`:               "TRUE",
		`NOT (650 exists OR suppressed)`:                "NOT (r.suppressed = $3::boolean)",
		`NOT all`:                                       "FALSE",
		`suppressed AND NOT (type = bib OR 245 exists)`: "((r.suppressed = $3::boolean) AND NOT (r.record_type = $4::text))",
	}
	for q, want := range cases {
		p, err := Parse(q)
		require.NoError(t, err, q)
		a := NewArgs(Context{Institution: "DEMO"}, "DEMO", "bib")
		require.Equal(t, want, p.Where(a), q)
	}
}
