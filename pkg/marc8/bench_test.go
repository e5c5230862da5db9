package marc8

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// BenchmarkDecode measures Decode on the fields of the shared MARC-8 files
// (jazz_1k.mrc, lul_fre_100.mrc, marc8.dat): one call per field, as a
// record reader makes them, and one call for all of it; on the ASCII-only
// and the diacritic-bearing fields alone; and on generated EACC text.
func BenchmarkDecode(b *testing.B) {
	fields := marcFields(b)
	var ascii, marked [][]byte
	for _, f := range fields {
		if bytes.ContainsFunc(f, func(r rune) bool { return r >= 0x80 || r == esc }) {
			marked = append(marked, f)
		} else {
			ascii = append(ascii, f)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	eacc := []byte("\x1b$1")
	for range 20000 {
		i := rng.IntN(eaccCount)
		eacc = append(eacc, eaccKeys[3*i:3*i+3]...)
	}

	b.Run("fields", func(b *testing.B) { benchFields(b, fields) })
	b.Run("whole", func(b *testing.B) { benchFields(b, [][]byte{bytes.Join(fields, []byte{0x1E})}) })
	b.Run("ascii-fields", func(b *testing.B) { benchFields(b, ascii) })
	b.Run("diacritic-fields", func(b *testing.B) { benchFields(b, marked) })
	b.Run("eacc", func(b *testing.B) { benchFields(b, [][]byte{eacc}) })
}

func benchFields(b *testing.B, fields [][]byte) {
	n, longest := 0, 0
	for _, f := range fields {
		n += len(f)
		longest = max(longest, len(f))
	}
	dst := make([]byte, 0, maxGrowth*longest)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range fields {
			dst, _ = Decode(dst[:0], f)
		}
	}
}
