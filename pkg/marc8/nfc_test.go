package marc8

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

// tableRunes returns the base characters and the combining marks (as table
// entries) that the decoder can produce.
func tableRunes() (bases []rune, marks []uint32) {
	bases = []rune{' ', nbsp, utf8.RuneError}
	for _, set := range sbcs {
		for _, e := range set {
			switch {
			case e == 0 || e&(flagSilent|flagNonStarter) != 0:
			case e&flagCombining != 0:
				marks = append(marks, e)
			default:
				bases = append(bases, rune(e&runeMask))
			}
		}
	}
	for _, e := range c1 {
		if e != 0 {
			bases = append(bases, rune(e&runeMask))
		}
	}
	for i := range eaccCount {
		r, _ := utf8.DecodeRuneInString(eaccRunes[3*i:])
		if r != '\uFFFF' {
			bases = append(bases, r)
		}
	}
	for _, w := range eaccWide {
		bases = append(bases, w.r)
	}
	return bases, marks
}

// clusterNFC runs the decoder's composition of base r with marks.
func clusterNFC(r rune, marks ...uint32) string {
	d := decoder{}
	d.nmarks = copy(d.marks[:], marks)
	d.cluster(r)
	return string(d.out)
}

// referenceNFC is what x/text makes of r followed by marks.
func referenceNFC(r rune, marks ...uint32) string {
	s := string(r)
	for _, m := range marks {
		s += string(rune(m & runeMask))
	}
	return norm.NFC.String(s)
}

// TestClusterMatchesNorm checks the generated composition tables and the
// decoder's composition algorithm against golang.org/x/text: bases that
// take part in a decomposition or composition with every mark and pair of
// marks, a sample of the other bases, and sampled deeper stacks.
func TestClusterMatchesNorm(t *testing.T) {
	t.Parallel()
	bases, marks := tableRunes()
	require.Greater(t, len(bases), 16000)
	require.Greater(t, len(marks), 50)
	check := func(b rune, ms ...uint32) {
		if want, got := referenceNFC(b, ms...), clusterNFC(b, ms...); got != want {
			t.Fatalf("%U with marks %x: got %+q, want %+q", b, ms, got, want)
		}
	}
	// Bases that decompose or compose get every test, others a sample.
	composes := map[rune]bool{}
	for _, c := range compositions {
		composes[rune(c.key>>21)] = true
	}
	for _, d := range decompositions {
		composes[d.r] = true
	}
	for i, b := range bases {
		check(b)
		if !composes[b] && i%8 != 0 {
			continue
		}
		for _, m := range marks {
			check(b, m)
		}
	}
	if testing.Short() {
		return
	}
	for i, b := range bases[:len(bases)-eaccCount] {
		if !composes[b] && i%8 != 0 {
			continue
		}
		for _, m1 := range marks {
			for _, m2 := range marks {
				check(b, m1, m2)
			}
		}
	}
	// Deeper stacks, sampled.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := bases[rng.IntN(len(bases))]
		ms := make([]uint32, 3+rng.IntN(maxMarks-2))
		for i := range ms {
			ms[i] = marks[rng.IntN(len(marks))]
		}
		check(b, ms...)
	}
}

// TestNonStarterOrder checks U+0670 (Basic Arabic 0x74), the one table
// character that is a non-starter without being a MARC-8 combining mark.
func TestNonStarterOrder(t *testing.T) {
	t.Parallel()
	cases := []string{
		"\x1b(3\x48\x74",         // beh, superscript alef
		"\x1b(3\x6e\x48\x74",     // fatha (class 30) stays before it
		"\x1b(3\x48\x74\x74",     // two of them
		"\x1b(3\x74",             // no base at all
		"\x1b(3\xe2\x48\x74",     // acute (230) on beh: U+0670 (35) goes first
		"\xe2\x1b(3\x74\x1b(Ba",  // a mark before it has no base
		"\x1b(3\xe2\xf2\x48\x74", // two marks to pass
	}
	for _, in := range cases {
		got, _ := Decode(nil, []byte(in))
		require.True(t, norm.NFC.IsNormal(got), "%q -> %+q is not NFC", in, got)
		require.Contains(t, string(got), "\u0670")
	}
	got, err := Decode(nil, []byte("\x1b(3\xe2\x48\x74"))
	require.NoError(t, err)
	require.Equal(t, "\u0628\u0670\u0301", string(got))
}
