package marc

import (
	"bytes"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// stagedRecords is every record of the files as Marshal writes it, plus
// inputs Unmarshal refuses or recovers from.
func stagedRecords(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, name := range []string{"jazz_1k.mrc", "lul_fre_100.mrc", "bad_records.mrc"} {
		data, err := os.ReadFile("../../testdata/marc/" + name)
		require.NoError(t, err)
		r, err := NewBinaryReader(bytes.NewReader(data), nil)
		require.NoError(t, err)
		for {
			rec, err := r.Read()
			if err != nil {
				if _, ok := err.(*Error); ok {
					continue
				}
				break
			}
			raw, err := Marshal(rec)
			require.NoError(t, err)
			out = append(out, raw)
		}
		// Raw input records too (recovery, MARC-8), cut at terminators.
		out = append(out, bytes.SplitAfter(data, []byte{recordTerminator})...)
	}
	return append(out, nil, []byte("junk"), []byte("00026     2200025   4500\x1e\x1d"))
}

// A Decoder returns what Unmarshal returns for each input, and the records
// it returned earlier stay intact while it decodes more.
func TestDecoderIsUnmarshal(t *testing.T) {
	inputs := stagedRecords(t)
	var d Decoder
	type result struct {
		rec *Record
		err error
	}
	got := make([]result, len(inputs))
	for i, in := range inputs {
		rec, err := d.Unmarshal(in)
		got[i] = result{rec, err}
	}
	for i, in := range inputs {
		rec, err := Unmarshal(in)
		require.Equal(t, err, got[i].err, "input %d", i)
		require.Equal(t, rec, got[i].rec, "input %d", i)
	}
}

// Decoding many records allocates far less per record than Unmarshal.
func TestDecoderAllocatesLittle(t *testing.T) {
	inputs := stagedRecords(t)[:1000]
	var d Decoder
	keep := make([]*Record, 0, len(inputs))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, in := range inputs {
		rec, err := d.Unmarshal(in)
		require.NoError(t, err)
		keep = append(keep, rec)
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / uint64(len(inputs))
	size := 0
	for _, in := range inputs {
		size += len(in)
	}
	// About the records themselves (text, fields, subfields): ~3x their bytes.
	require.Less(t, per, uint64(4*size/len(inputs)), "bytes allocated per record")
	require.Len(t, keep, len(inputs))
}
