package marc8

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fuzzSeeds are hand-written inputs that reach every branch of the decoder.
var fuzzSeeds = []string{
	"plain ASCII text",
	"caf\xe2e cr\xe8eme br\xe3ul\xe2ee \xe8\xe5u \xe3\xf2a",
	"\x1bga\x1bsb\x1bb2\x1bp3\x1bs",
	"\x1b(N\x76\x1b)Q\xc0\x1b(3\x6e\x48\x74\x1b)4\xa2\x1b(S\x22\x61\x1b(2\x40\x61\x1b(B",
	"\x1b$1\x21\x30\x21 \x21\x23\x20\x21\x75\x59\x1b$)1\xa1\xb0\xa1\x1b(B",
	"\x88The\x89 \x8d\x8e\xebo\xecu\xfan\xfbg",
	"a\x1fbc\x1ed\x1d\n\x1b)N\xf6\x1f\xf6",
	"ab\x1b-Zcd\x1bN\x1b(\x1fa\x1b",
	"\xc9\x80\x7f\xff\xa0\x1b$1\x7e\x7e\x7e\x1b$1\x21\x30 \x21",
	"abc\xe2\xe2\x1fa\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3\xe3a",
}

// fuzzFileSeeds returns field data from the shared MARC-8 files: every
// field with a byte outside ASCII and every 20th other one.
func fuzzFileSeeds() [][]byte {
	var seeds [][]byte
	for _, name := range sharedMARC8Files {
		raw, err := os.ReadFile(filepath.Join(sharedMARCDir, name))
		if err != nil {
			continue // the shared files are optional for fuzzing
		}
		for i, f := range splitFields(raw) {
			if i%20 == 0 || bytes.ContainsFunc(f, func(r rune) bool { return r >= 0x80 || r == esc }) {
				seeds = append(seeds, f)
			}
		}
	}
	return seeds
}

// maxGrowth bounds the output of Decode per input byte: the worst case is a
// lone ANSEL mark, a 1-byte input that becomes U+00A0 and a 2-byte mark.
const maxGrowth = 4

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzFileSeeds() {
		f.Add(s)
	}
	prefix := []byte("caller\xe2") // kept as is, even when not UTF-8
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Decode(prefix[:len(prefix):len(prefix)], in)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("prefix changed: %+q", out)
		}
		out = out[len(prefix):]
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 %+q", out)
		}
		if len(out) > maxGrowth*len(in) {
			t.Fatalf("%d bytes of output for %d of input", len(out), len(in))
		}
		if !norm.NFC.IsNormal(out) {
			t.Fatalf("output %+q is not NFC (want %+q)", out, norm.NFC.Bytes(out))
		}
		if err == nil {
			if bytes.Contains(out, []byte("\ufffd")) {
				t.Fatalf("U+FFFD in %+q without an error", out)
			}
		} else {
			var de *DecodeError
			if !errors.As(err, &de) || len(de.Problems) == 0 || len(de.Problems) > maxProblems {
				t.Fatalf("bad error %#v", err)
			}
			last := -1
			for _, p := range de.Problems {
				if p.Offset < last || p.Offset >= len(in) || p.String() == "" {
					t.Fatalf("bad problem %+v after offset %d", p, last)
				}
				last = p.Offset
			}
		}
		// The terminators end all state, so a field-by-field decode of
		// the same bytes gives the same text.
		var parts []byte
		for i, part := range bytes.Split(in, []byte{0x1E}) {
			if i > 0 {
				parts = append(parts, 0x1E)
			}
			parts, _ = Decode(parts, part)
		}
		if !bytes.Equal(parts, out) {
			t.Fatalf("decoding split at 0x1E gives %+q, whole %+q", parts, out)
		}
	})
}
