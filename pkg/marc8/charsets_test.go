package marc8

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestEACCLookupExhaustive checks the EACC index against the plain list of
// codes for every byte triple the decoder can look up.
func TestEACCLookupExhaustive(t *testing.T) {
	t.Parallel()
	want := make(map[string]rune, eaccCount)
	for i := range eaccCount {
		r, _ := utf8.DecodeRuneInString(eaccRunes[3*i:])
		want[eaccKeys[3*i:3*i+3]] = r
	}
	for _, w := range eaccWide {
		want[string([]byte{byte(w.key >> 16), byte(w.key >> 8), byte(w.key)})] = w.r
	}
	require.Len(t, want, eaccCount)
	found := 0
	for b1 := byte(0x21); b1 <= 0x7E; b1++ {
		for b2 := byte(0x20); b2 <= 0x7E; b2++ {
			for b3 := byte(0x20); b3 <= 0x7E; b3++ {
				utf, r := eaccLookup(b1, b2, b3)
				if utf != "" {
					r, _ = utf8.DecodeRuneInString(utf)
				}
				w, ok := want[string([]byte{b1, b2, b3})]
				if r != w || (r != 0) != ok {
					t.Fatalf("%02X%02X%02X: got %U, want %U", b1, b2, b3, r, w)
				}
				if ok {
					found++
				}
			}
		}
	}
	require.Equal(t, eaccCount, found)
}

// TestSpans checks the word-at-a-time scans against byte-by-byte ones for
// every byte value at every position of a word.
func TestSpans(t *testing.T) {
	t.Parallel()
	base := []byte("abcdefghijklmnopq rstuvwxyz\x1f0123456789")
	for pos := range base {
		for c := range 256 {
			s := append([]byte(nil), base...)
			s[pos] = byte(c)
			wantASCII, wantPlain := 0, 0
			for wantASCII < len(s) && s[wantASCII] >= 0x20 && s[wantASCII] < 0x7F {
				wantASCII++
			}
			for wantPlain < len(s) && s[wantPlain] < 0x7F && s[wantPlain] != esc {
				wantPlain++
			}
			require.Equal(t, wantASCII, asciiSpan(s, 0), "asciiSpan, byte %#x at %d", c, pos)
			require.Equal(t, wantPlain, plainSpan(s, 0), "plainSpan, byte %#x at %d", c, pos)
		}
	}
}
