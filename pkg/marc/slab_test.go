package marc

import (
	"bytes"
	"os"
	"runtime"
	"testing"
)

// Unmarshal reads one record: it must allocate about what that record
// needs, not slab blocks sized for hundreds (a Metadata Import chunk
// unmarshals a thousand records and keeps them).
func TestUnmarshalAllocatesForOneRecord(t *testing.T) {
	data, err := os.ReadFile("../../testdata/marc/jazz_1k.mrc")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewBinaryReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 32<<10 { // ~13 KB for ~1 KB: a read buffer of the record's size, its text, fields, subfields and the parser's scratch (not a 64 KB read buffer)
		t.Fatalf("Unmarshal of a %d-byte record allocates %d bytes", len(raw), per)
	}
}
