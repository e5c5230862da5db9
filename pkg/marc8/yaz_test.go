package marc8

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/yaz.golden from yaz-marcdump")

const goldenPath = "testdata/yaz.golden"

// oracleCase is one MARC-8 input for yaz.
type oracleCase struct {
	kind string // where it comes from, for messages and golden sampling
	in   []byte
}

// oracleCases returns inputs covering every table entry, random mixtures
// and every value of the shared MARC-8 files. All are free of control
// characters, so they can be sent to yaz in one stream.
func oracleCases(tb testing.TB) []oracleCase {
	var cases []oracleCase
	add := func(kind string, in []byte) { cases = append(cases, oracleCase{kind, in}) }

	// Every single-byte entry, through G0 and through G1.
	for s := range setEACC {
		final := finalOf(s)
		for pos, e := range sbcs[s] {
			if e == 0 {
				continue
			}
			b := byte(0x21 + pos)
			// A mark needs a base: space is one in every set, and 'a' is
			// ASCII while G0 is.
			add("g0", []byte{esc, '(', final, b, ' '})
			add("g1", []byte{esc, ')', final, b | 0x80, 'a'})
		}
	}
	// Every EACC code through G0, and some through G1.
	for i := range eaccCount {
		k := eaccKeys[3*i : 3*i+3]
		add("eacc", []byte{esc, '$', '1', k[0], k[1], k[2]})
		if i%97 == 0 {
			add("eacc-g1", []byte{esc, '$', ')', '1', k[0] | 0x80, k[1] | 0x80, k[2] | 0x80, 'x'})
		}
	}
	// Random text in mixed sets.
	rng := rand.New(rand.NewPCG(8, 8))
	for range 3000 {
		add("random", randomMARC8(rng))
	}
	// The shared files.
	for _, v := range marcValues(tb) {
		if bytes.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != esc }) {
			continue
		}
		add("file", v)
	}
	return cases
}

func finalOf(s charset) byte {
	for f, c := range setByFinal {
		if c == s+1 {
			return byte(f)
		}
	}
	panic("no final byte for set")
}

// randomMARC8 builds a valid-looking MARC-8 string: words in ASCII and
// ANSEL with diacritics, runs in other sets reached by every kind of
// escape sequence, EACC runs with spaces.
func randomMARC8(rng *rand.Rand) []byte {
	var b []byte
	defined := func(s charset, marks bool) byte {
		for {
			pos := rng.IntN(94)
			e := sbcs[s][pos]
			if e != 0 && (e&flagCombining != 0) == marks && e&(flagSilent|flagNonStarter) == 0 {
				return byte(0x21 + pos)
			}
		}
	}
	for range 1 + rng.IntN(8) {
		switch rng.IntN(9) {
		case 0, 1: // ASCII word
			for range 1 + rng.IntN(8) {
				b = append(b, byte('a'+rng.IntN(26)))
			}
		case 2: // ANSEL letter or marks on a letter
			for range rng.IntN(3) {
				b = append(b, defined(setANSEL, true)|0x80)
			}
			if rng.IntN(3) == 0 {
				b = append(b, defined(setANSEL, false)|0x80)
			} else {
				b = append(b, byte('A'+rng.IntN(58)))
			}
		case 3: // technique 1
			s := []charset{setGreekSymbols, setSubscripts, setSuperscripts}[rng.IntN(3)]
			b = append(b, esc, finalOf(s))
			for range 1 + rng.IntN(3) {
				b = append(b, defined(s, false))
			}
			b = append(b, esc, 's')
		case 4, 5: // another set as G0, then back
			s := charset(2 + rng.IntN(int(setEACC)-2))
			b = append(b, esc, "(,"[rng.IntN(2)], finalOf(s))
			for range 1 + rng.IntN(6) {
				if rng.IntN(4) == 0 && sbcs[s] != sbcs[setASCII] && hasMarks(s) {
					b = append(b, defined(s, true))
				}
				b = append(b, defined(s, false))
			}
			b = append(b, esc, '(', 'B')
		case 6: // another set as G1, then back
			s := charset(2 + rng.IntN(int(setEACC)-2))
			b = append(b, esc, ")-"[rng.IntN(2)], finalOf(s))
			for range 1 + rng.IntN(6) {
				b = append(b, defined(s, false)|0x80)
			}
			b = append(b, esc, ')', 'E')
		case 7: // EACC
			g1 := rng.IntN(3) == 0
			if g1 {
				b = append(b, esc, '$', ')', '1')
			} else {
				b = append(b, esc, '$', '1')
			}
			for range 1 + rng.IntN(5) {
				i := rng.IntN(eaccCount)
				k := []byte(eaccKeys[3*i : 3*i+3])
				if g1 {
					k[0], k[1], k[2] = k[0]|0x80, k[1]|0x80, k[2]|0x80
				}
				b = append(b, k...)
				if rng.IntN(4) == 0 {
					b = append(b, ' ')
				}
			}
			if g1 {
				b = append(b, esc, ')', 'E')
			} else {
				b = append(b, esc, '(', 'B')
			}
		case 8:
			b = append(b, ' ')
		}
	}
	return b
}

func hasMarks(s charset) bool {
	for _, e := range sbcs[s] {
		if e&flagCombining != 0 && e&flagSilent == 0 {
			return true
		}
	}
	return false
}

// yazConvert converts each input with yaz-marcdump, which (unlike
// yaz-iconv, whose 64-byte input chunks reorder a mark split from its base)
// hands each subfield to the converter whole. Each input becomes subfield
// $a of its own 500 field in synthetic records; the converted records come
// back as ISO 2709 and are taken apart the same way.
func yazConvert(t *testing.T, yaz string, inputs [][]byte) [][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oracle.mrc")
	var file []byte
	for start := 0; start < len(inputs); {
		var dir, data []byte
		end := start
		for end < len(inputs) && end-start < 2000 && 24+len(dir)+len(data)+len(inputs[end])+30 < 99999 {
			field := append(append([]byte("  \x1fa"), inputs[end]...), 0x1E)
			dir = fmt.Appendf(dir, "500%04d%05d", len(field), len(data))
			data = append(data, field...)
			end++
		}
		require.Greater(t, end, start, "input too long for a record")
		base := 24 + len(dir) + 1
		file = fmt.Appendf(file, "%05dnam  22%05d   4500", base+len(data)+1, base)
		file = append(append(append(append(file, dir...), 0x1E), data...), 0x1D)
		start = end
	}
	require.NoError(t, os.WriteFile(path, file, 0o644))
	cmd := exec.Command(yaz, "-f", "marc8", "-t", "utf8", "-o", "marc", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "yaz-marcdump: %s", stderr.String())
	var values [][]byte
	for _, f := range splitFields(out) {
		v, ok := bytes.CutPrefix(f, []byte("  \x1fa"))
		require.True(t, ok, "unexpected field %+q", f)
		values = append(values, v)
	}
	require.Len(t, values, len(inputs), "yaz-marcdump returned another number of fields; stderr: %s", stderr.String())
	return values
}

// TestYazOracle compares Decode with yaz (yaz-marcdump) on every table entry,
// random strings and every value of the shared MARC-8 files. yaz output is
// decomposed, so it is compared in NFC. Only inputs that Decode finds
// clean are compared: yaz drops what it cannot decode (see the package
// documentation for the differences). Run with -update to rewrite the
// golden file that TestYazGolden checks without yaz.
func TestYazOracle(t *testing.T) {
	yaz, err := exec.LookPath("yaz-marcdump")
	if err != nil {
		t.Skip("yaz-marcdump not installed")
	}
	cases := oracleCases(t)
	var clean [][]byte
	var kinds []string
	counts := map[string]int{}
	for _, c := range cases {
		if _, err := Decode(nil, c.in); err != nil {
			t.Fatalf("generated %s input %+q: %v", c.kind, c.in, err)
		}
		clean = append(clean, c.in)
		kinds = append(kinds, c.kind)
		counts[c.kind]++
	}
	want := yazConvert(t, yaz, clean)
	mismatches := 0
	for i, in := range clean {
		got, _ := Decode(nil, in)
		if w := norm.NFC.Bytes(want[i]); !bytes.Equal(got, w) {
			mismatches++
			if mismatches <= 20 {
				t.Errorf("%s input %+q: Decode %+q, yaz %+q", kinds[i], in, got, w)
			}
		}
	}
	require.Zero(t, mismatches, "mismatches out of %d inputs", len(clean))
	t.Logf("compared %d inputs with yaz-marcdump: %v", len(clean), counts)

	if *updateGolden {
		writeGolden(t, clean, kinds, want)
	}
}

// writeGolden keeps a sample of the oracle cases: every single-byte table
// entry and every 25th generated one. Values from the shared MARC files
// stay out: their licenses allow them as test input, not copies.
func writeGolden(t *testing.T, ins [][]byte, kinds []string, outs [][]byte) {
	var b bytes.Buffer
	b.WriteString("# MARC-8 input and its conversion by yaz-marcdump -f marc8 -t utf8, as Go strings.\n")
	b.WriteString("# Generated by go test -run TestYazOracle -update ./pkg/marc8/\n")
	n := 0
	for i := range ins {
		if kinds[i] == "file" || kinds[i] != "g0" && kinds[i] != "g1" && i%25 != 0 {
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\n", strconv.Quote(string(ins[i])), strconv.Quote(string(outs[i])))
		n++
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
	require.NoError(t, os.WriteFile(goldenPath, b.Bytes(), 0o644))
	t.Logf("wrote %d cases to %s", n, goldenPath)
}

// TestYazGolden checks Decode against yaz output recorded in testdata, so
// the comparison runs where yaz is not installed.
func TestYazGolden(t *testing.T) {
	t.Parallel()
	f, err := os.Open(goldenPath)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		in, out, ok := strings.Cut(sc.Text(), "\t")
		require.True(t, ok, "line %d", line)
		in, err1 := strconv.Unquote(in)
		out, err2 := strconv.Unquote(out)
		require.NoError(t, errors.Join(err1, err2), "line %d", line)
		got, err := Decode(nil, []byte(in))
		require.NoError(t, err, "line %d", line)
		require.Equal(t, norm.NFC.String(out), string(got), "line %d: %+q", line, in)
		require.True(t, utf8.Valid(got))
		n++
	}
	require.NoError(t, sc.Err())
	require.Greater(t, n, 1000)
}

// TestYazDifferences pins down each deliberate difference from yaz listed
// in the package documentation: what Decode gives, and (when yaz-iconv is
// installed) that yaz still behaves as documented.
func TestYazDifferences(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, ours, yaz string
	}{
		{"undefined byte", "a\xc9b", "a\ufffdb", "ab"},
		{"unknown escape stops yaz", "a\x1b(Zb", "a\ufffdb", ""},
		{"ESC N is not a designation", "a\x1bN\x76", "a\ufffd\x76", "aЖ"},
		{"trailing mark", "a\xe2", "a\u00a0\u0301", ""},
		{"mark before a control", "\xe2\x1fa", "\u00a0\u0301\x1fa", "\x1f\u0301a"},
		{"C0 control", "a\nb", "a\nb", "ab"},
		{"C1 with another G1", "\x1b)N\x88x", "\u0098x", "x"},
		{"delimiter resets the sets", "\x1b(Nj\x1fj", "Й\x1fj", "ЙЙ"},
		{"truncated EACC", "\x1b$1\x21\x30", "\ufffd", ""},
		{"NFC", "\xe2e", "é", "e\u0301"},
	}
	yaz, _ := exec.LookPath("yaz-iconv")
	for _, c := range cases {
		got, _ := Decode(nil, []byte(c.in))
		require.Equal(t, c.ours, string(got), c.name)
		if yaz == "" {
			continue
		}
		cmd := exec.Command(yaz, "-f", "marc8", "-t", "utf8")
		cmd.Stdin = strings.NewReader(c.in)
		out, err := cmd.Output()
		require.NoError(t, err, c.name)
		require.Equal(t, c.yaz, string(out), "%s: yaz-iconv no longer behaves as documented", c.name)
	}
}
