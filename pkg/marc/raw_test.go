package marc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

// sameAsRead checks the property ReadRaw exists for: for any input and
// options, ReadRaw then Decoder.UnmarshalRaw gives the sequence Read gives
// (the same records, warnings and errors at the same ordinals), and each
// raw record alone decodes with Decoder.Unmarshal to the same leader and
// fields.
func sameAsRead(t *testing.T, data []byte, opts *BinaryReaderOptions) {
	t.Helper()
	want := readDescribed(t, data, opts)
	rr, err := NewBinaryReader(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := NewDecoder(opts)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		raw, err := rr.ReadRaw()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			got = append(got, describe(nil, err))
			continue
		}
		if n := bytes.IndexByte(raw.Bytes, recordTerminator); n != len(raw.Bytes)-1 {
			t.Fatalf("record %d: terminator at %d of %d bytes", raw.Ordinal, n, len(raw.Bytes))
		}
		rec, err := dec.UnmarshalRaw(raw)
		got = append(got, describe(rec, err))
		if len(got) != raw.Ordinal {
			t.Fatalf("raw record %d has ordinal %d", len(got), raw.Ordinal)
		}
		single, err1 := alone.Unmarshal(raw.Bytes)
		if (err == nil) != (err1 == nil) || err == nil && (single.Leader != rec.Leader || !sameFields(single.Fields, rec.Fields)) {
			t.Fatalf("record %d decoded alone differs: %v / %v", raw.Ordinal, err, err1)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("ReadRaw: %d records, Read: %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d:\nRead:    %s\nReadRaw: %s", i+1, want[i], got[i])
		}
	}
}

func readDescribed(t *testing.T, data []byte, opts *BinaryReaderOptions) []string {
	t.Helper()
	r, err := NewBinaryReader(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		out = append(out, describe(rec, err))
	}
}

// describe is everything Read says about one record, for comparing.
func describe(rec *Record, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q", rec.Leader[:], rec.Fields)
	for _, w := range rec.Warnings {
		b.WriteString("\n  warning: " + w.Error())
	}
	return b.String()
}

var rawModes = []BinaryReaderOptions{
	{}, {Encoding: EncodingUTF8}, {Encoding: EncodingMARC8}, {Strict: true}, {MaxRecordLength: 2000},
}

// TestReadRawSameAsRead runs the property on every real binary file, whole,
// with each encoding.
func TestReadRawSameAsRead(t *testing.T) {
	paths := binaryTestFiles(t)
	if len(paths) == 0 {
		t.Fatal("no test files")
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range rawModes {
			t.Run(fmt.Sprintf("%s/%+v", path, o), func(t *testing.T) { sameAsRead(t, data, &o) })
		}
	}
}

// TestReadRawFraming: the framing cases one by one.
func TestReadRawFraming(t *testing.T) {
	rec := "00030nam a2200037 a 4500" + "245" + "0011" + "00000" + "\x1e" + "10\x1faT\x1e"
	rec = fmt.Sprintf("%05d", len(rec)+1) + rec[5:]
	for name, in := range map[string]string{
		"clean":        rec + "\x1d" + rec + "\x1d",
		"strays":       "\n\x00 " + rec + "\x1d\r\n" + rec + "\x1d\x1a",
		"junk":         "xyz" + rec + "\x1d",
		"glued":        rec + rec + "\x1d",
		"glued byte":   rec + "X" + rec + "\x1d",
		"unterminated": rec + "\x1d" + rec,
		"too short":    "00010\x1d" + rec + "\x1d",
		"no directory": "00030nam a2200025 a 4500abc\x1d" + rec + "\x1d",
		"too long":     rec + strings.Repeat("a", 3000) + "\x1d" + rec + "\x1d",
		"empty":        "\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			for _, o := range rawModes {
				sameAsRead(t, []byte(in), &o)
			}
		})
	}
}
