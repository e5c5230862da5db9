package marc8_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/marc8"
)

// problem is the part of a marc8.Problem a test case checks.
type problem struct {
	kind   marc8.Kind
	offset int
}

func TestDecode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want string
	}{
		// One or more known characters from every table in codetables.xml.
		{"ascii", "Hello, world ~{|}", "Hello, world ~{|}"},
		{"ansel letters", "\xa1\xa2\xb5\xc7\xc8", "ŁØæß€"},
		{"greek symbols", "\x1bga\x1bsa\x1bgbc", "αaβγ"},
		{"subscripts", "H\x1bb2\x1bsO", "H₂O"},
		{"superscripts", "x\x1bp2\x1bs+1", "x²+1"},
		{"hebrew G0", "\x1b(2\x60\x61\x62\x1b(B.", "אבג."},
		{"hebrew G1", "\x1b)2\xe0 x", "א x"},
		{"hebrew point", "\x1b(2\x40\x61", "\u05d1\u05b7"},
		{"cyrillic G0", "\x1b(N\x76\x56\x1b(B", "Жж"},
		{"cyrillic G1", "\x1b)N\xf6 \xd6", "Ж ж"},
		{"cyrillic comma G0", "\x1b,N\x76", "Ж"},
		{"cyrillic dash G1", "\x1b-N\xf6", "Ж"},
		{"extended cyrillic", "\x1b)Q\xc0\xe0", "ґҐ"},
		{"arabic", "\x1b(3\x48", "ب"},
		{"arabic mark", "\x1b(3\x6e\x48", "\u0628\u064e"},
		{"extended arabic", "\x1b)4\xa2", "\u0672"},
		{"greek", "\x1b(S\x61\x62", "αβ"},
		{"greek accent composes", "\x1b(S\x22\x61", "ά"},
		{"eacc G0", "\x1b$1\x21\x30\x21", "一"},
		{"eacc G0 with parenthesis", "\x1b$(1\x21\x30\x21\x1b(B!", "一!"},
		{"eacc G1", "\x1b$)1\xa1\xb0\xa1a", "一a"},
		{"eacc spaces", "\x1b$1\x21\x30\x21 \x21\x30\x22", "一 丁"},
		{"eacc ideographic space", "\x1b$1\x21\x23\x20", "\u3000"},
		{"eacc outside BMP", "\x1b$1\x21\x75\x59", "\U000212C4"},
		{"eacc kana", "\x1b$1\x69\x24\x22", "あ"},

		// Escape switching.
		{"G0 and back", "\x1b(N\x76\x1b(B\x76", "Жv"},
		{"G1 and back", "\x1b)N\xf6\x1b)E\xa1", "ЖŁ"},
		{"G1 ANSEL bang", "\x1b)N\xf6\x1b)!E\xa1", "ЖŁ"},
		{"both sets", "\x1b(N\x1b)Q\x76\xc0", "Жґ"},
		{"G0 escape keeps G1", "\x1b(N\xa1", "Ł"},
		{"ANSEL as G0", "\x1b(E\x41", "ℓ"},
		{"ASCII as G1", "\x1b)B\xc1", "A"},
		{"technique 1 back via ESC ( B", "\x1bga\x1b(Ba", "αa"},
		{"field terminator resets", "\x1b(N\x76\x1e\x76", "Ж\x1ev"},
		{"subfield delimiter resets", "\x1b)N\xf6\x1fa\xa1", "Ж\x1faŁ"},

		// Combining marks.
		{"acute", "\xe2e", "é"},
		{"mark in word", "caf\xe2e", "café"},
		{"grave capital", "\xe1A", "À"},
		{"cedilla", "gar\xf0con", "garçon"},
		{"stacked same class", "\xe8\xe5u", "ǖ"},
		{"stacked reordered", "\xe3\xf2a", "ậ"},
		{"no precomposed form", "\xe2x", "x\u0301"},
		{"mark on space", "\xe2 ", " \u0301"},
		{"mark across escape", "ab\xe2\x1b(Nc", "abЦ\u0301"},
		{"ligature", "\xebt\xecs", "t\u0361s"},
		{"double tilde", "\xfan\xfbg", "n\u0360g"},
		{"greek normalizes", "\x1b(S\x3b", "\u00b7"},

		// Controls.
		{"non-sort markers", "\x88The\x89 cat", "\u0098The\u009c cat"},
		{"joiners", "a\x8db\x8ec", "a\u200db\u200cc"},
		{"C0 controls", "a\x1fbc\x1ed\x1d\n", "a\x1fbc\x1ed\x1d\n"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := marc8.Decode(nil, []byte(c.in))
			require.NoError(t, err)
			require.Equal(t, c.want, string(got))
		})
	}
}

func TestDecodeProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		in       string
		want     string
		problems []problem
		message  string // the error message, if checked
	}{
		{"invalid escape", "ab\x1b-Zcd", "ab\ufffdcd", []problem{{marc8.InvalidEscape, 2}},
			"marc8: invalid escape sequence ESC 0x2D 0x5A at byte 2"},
		{"ESC N is not technique 1", "\x1bNa", "\ufffda", []problem{{marc8.InvalidEscape, 0}}, ""},
		{"escape before control", "\x1b(\x1fa", "\ufffd\x1fa", []problem{{marc8.InvalidEscape, 0}},
			"marc8: invalid escape sequence ESC 0x28 at byte 0"},
		{"invalid escape keeps state", "\x1b(N\x76\x1b(Z\x76", "Ж\ufffdЖ", []problem{{marc8.InvalidEscape, 4}}, ""},
		{"truncated escape", "ab\x1b(", "ab\ufffd", []problem{{marc8.TruncatedEscape, 2}},
			"marc8: truncated escape sequence ESC 0x28 at byte 2"},
		{"lone ESC", "\x1b", "\ufffd", []problem{{marc8.TruncatedEscape, 0}}, ""},
		{"undefined ANSEL", "\xc9x", "\ufffdx", []problem{{marc8.Undefined, 0}},
			`marc8: byte 0xC9 undefined in G1 set "Extended Latin (ANSEL)" at byte 0`},
		{"undefined hebrew", "\x1b(2\x7e", "\ufffd", []problem{{marc8.Undefined, 3}},
			`marc8: byte 0x7E undefined in G0 set "Basic Hebrew" at byte 3`},
		{"undefined C1", "a\x80b", "a\ufffdb", []problem{{marc8.Undefined, 1}},
			"marc8: byte 0x80 undefined in the C1 control range at byte 1"},
		{"DEL and FF", "\x7f\xff", "\ufffd\ufffd", []problem{{marc8.Undefined, 0}, {marc8.Undefined, 1}}, ""},
		{"mark on undefined", "\xe2\xc9", "\ufffd\u0301", []problem{{marc8.Undefined, 1}}, ""},
		{"undefined EACC", "\x1b$1\x7e\x7e\x7e", "\ufffd", []problem{{marc8.Undefined, 3}},
			`marc8: bytes 0x7E 0x7E 0x7E undefined in G0 set "Chinese, Japanese, Korean (EACC)" at byte 3`},
		{"truncated EACC", "\x1b$1\x21\x30", "\ufffd", []problem{{marc8.TruncatedChar, 3}},
			`marc8: bytes 0x21 0x30 truncated in G0 set "Chinese, Japanese, Korean (EACC)" at byte 3`},
		{"EACC cut by escape", "\x1b$1\x21\x1b(Bx", "\ufffdx", []problem{{marc8.TruncatedChar, 3}}, ""},
		{"EACC cut by space", "\x1b$1\x21\x30 \x21\x30\x21", "\ufffd 一", []problem{{marc8.TruncatedChar, 3}}, ""},
		{"EACC cut by G1 byte", "\x1b$1\x21\x30\xa1", "\ufffdŁ", []problem{{marc8.TruncatedChar, 3}}, ""},
		{"trailing mark", "abc\xe2", "abc\u00a0\u0301", []problem{{marc8.NoBase, 3}},
			"marc8: combining mark 0xE2 without base character at byte 3"},
		{"trailing marks", "\xe2\xe3", "\u00a0\u0301\u0302", []problem{{marc8.NoBase, 0}}, ""},
		{"mark before delimiter", "\xe2\x1fa", "\u00a0\u0301\x1fa", []problem{{marc8.NoBase, 0}}, ""},
		{"mark waits across a bad escape", "\xf2\x1b", "\ufffd\u00a0\u0323",
			[]problem{{marc8.NoBase, 0}, {marc8.TruncatedEscape, 1}}, ""},
		{"several", "\xc9\x1b-Z\xe2", "\ufffd\ufffd\u00a0\u0301",
			[]problem{{marc8.Undefined, 0}, {marc8.InvalidEscape, 1}, {marc8.NoBase, 4}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := marc8.Decode(nil, []byte(c.in))
			require.Equal(t, c.want, string(got))
			var de *marc8.DecodeError
			require.True(t, errors.As(err, &de), "error %v is not a *DecodeError", err)
			var ps []problem
			for _, p := range de.Problems {
				ps = append(ps, problem{p.Kind, p.Offset})
			}
			require.Equal(t, c.problems, ps)
			if c.message != "" {
				require.EqualError(t, err, c.message)
			}
		})
	}
}

func TestProblemAccessors(t *testing.T) {
	t.Parallel()
	_, err := marc8.Decode(nil, []byte("ok\x1b)N\xf6\x1b)2\xfe"))
	var de *marc8.DecodeError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Problems, 1)
	p := de.Problems[0]
	require.Equal(t, marc8.Undefined, p.Kind)
	require.Equal(t, 9, p.Offset)
	require.Equal(t, []byte{0xFE}, p.Bytes())
	require.Equal(t, "Basic Hebrew", p.Set())
	require.Equal(t, `byte 0xFE undefined in G1 set "Basic Hebrew" at byte 9`, p.String())
	require.Equal(t, "undefined character", p.Kind.String())
}

func TestDecodeAppends(t *testing.T) {
	t.Parallel()
	// The caller's bytes are kept as they are, even a base the first mark
	// could have composed with.
	dst := []byte("prefix e")
	got, err := marc8.Decode(dst, []byte("\xe2e"))
	require.NoError(t, err)
	require.Equal(t, "prefix eé", string(got))

	got, err = marc8.Decode(got, []byte(" caf\xe2e"))
	require.NoError(t, err)
	require.Equal(t, "prefix eé café", string(got))
}

func TestTooManyMarks(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("\xe3", 20) + "a"
	got, err := marc8.Decode(nil, []byte(in))
	var de *marc8.DecodeError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Problems, 1)
	require.Equal(t, marc8.NoBase, de.Problems[0].Kind)
	require.Contains(t, err.Error(), "too many stacked marks")
	require.True(t, utf8.Valid(got))
	require.Equal(t, 20, strings.Count(string(got), "\u0302")+strings.Count(string(got), "â"))
}

func TestProblemListIsBounded(t *testing.T) {
	t.Parallel()
	got, err := marc8.Decode(nil, bytes.Repeat([]byte{0xC9}, 150))
	require.Equal(t, strings.Repeat("\ufffd", 150), string(got))
	var de *marc8.DecodeError
	require.ErrorAs(t, err, &de)
	require.Len(t, de.Problems, 100)
	require.Equal(t, 50, de.Omitted)
	require.True(t, strings.HasSuffix(err.Error(), "; and 50 more problems"))
}

func TestDecodeString(t *testing.T) {
	t.Parallel()
	s, err := marc8.DecodeString("Br\xe8ucke")
	require.NoError(t, err)
	require.Equal(t, "Brücke", s)
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	cases := map[string]string{
		"ascii":     strings.Repeat("The quick brown fox. ", 20),
		"marks":     strings.Repeat("Caf\xe2e cr\xe8eme br\xe3ul\xe2ee ", 10),
		"scripts":   "\x1b(N\x76\x56\x1b(B \x1b$1\x21\x30\x21\x1b(B \x1b)2\xe0",
		"delimiter": "10\x1faTitle :\x1fbsub\xe2e.",
	}
	for name, in := range cases {
		src := []byte(in)
		dst := make([]byte, 0, 4*len(src))
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := marc8.Decode(dst[:0], src); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, name)
	}
}
