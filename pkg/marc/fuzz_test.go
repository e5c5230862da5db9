package marc

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// binaryTestFiles returns the path of every binary MARC file under testdata/
// and the shared test directory (each directory may be a symbolic link: what
// it points to is walked).
func binaryTestFiles(tb testing.TB) []string {
	tb.Helper()
	var paths []string
	for _, dir := range []string{"testdata", sharedTestdata} {
		root, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".mrc") || strings.HasSuffix(path, ".dat")) {
				paths = append(paths, path)
			}
			return nil
		})
	}
	return paths
}

// binarySeeds returns the first records of every binary MARC test file, one
// by one and the first three together, and the small files whole. (Big
// seeds slow the fuzzer's mutator to a crawl.)
func binarySeeds(f *testing.F) [][]byte {
	f.Helper()
	const small = 32 << 10
	var seeds [][]byte
	seen := make(map[string]bool)
	for _, path := range binaryTestFiles(f) {
		data, err := os.ReadFile(path)
		if err != nil || seen[string(data)] {
			continue
		}
		seen[string(data)] = true
		if len(data) <= small {
			seeds = append(seeds, data)
		}
		end := 0
		for n := 0; n < 3; n++ {
			i := bytes.IndexByte(data[end:], recordTerminator)
			if i < 0 {
				break
			}
			if rec := data[end : end+i+1]; len(rec) <= small {
				seeds = append(seeds, rec)
			}
			end += i + 1
		}
		if end <= small && end < len(data) {
			seeds = append(seeds, data[:end])
		}
	}
	return seeds
}

// FuzzBinaryReader: whatever the input, the reader does not panic, ends, returns
// UTF-8 records whose problems are *Errors, a record it returns that the
// writer accepts reads back the same, and ReadRaw then UnmarshalRaw gives
// what Read gives.
func FuzzBinaryReader(f *testing.F) {
	for _, s := range binarySeeds(f) {
		f.Add(s, uint8(0))
	}
	f.Add([]byte("00026    a2200025   4500\x1e\x1d"), uint8(1))
	f.Add([]byte("\n\x00junk00030nam a2200025 a 4500ab\x1e\x1d\x1d"), uint8(2))

	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		opts := &BinaryReaderOptions{
			Encoding:        Encoding(mode % 3),
			Strict:          mode&4 != 0,
			MaxRecordLength: int(mode>>3) * 256, // 0: the default
		}
		sameAsRead(t, data, opts)
		r, err := NewBinaryReader(bytes.NewReader(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatalf("more than %d records from %d bytes", n, len(data))
			}
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Ordinal != n+1 || e.Offset < 0 || e.Offset > int64(len(data)) {
					t.Fatalf("error %v: not an *Error for record %d", err, n+1)
				}
				continue
			}
			checkRecord(t, rec, n+1, len(data))
			roundTrip(t, rec)
		}
	})
}

func checkRecord(t *testing.T, rec *Record, ordinal, size int) {
	t.Helper()
	if rec.Leader[9] != 'a' {
		t.Fatalf("leader/09 %q", rec.Leader[9])
	}
	for _, c := range rec.Leader {
		if c < 0x20 || c > 0x7E {
			t.Fatalf("leader %q not printable", rec.Leader[:])
		}
	}
	for _, f := range rec.Fields {
		if len(f.Tag) != 3 || !utf8.ValidString(f.Tag) || !utf8.ValidString(f.Value) {
			t.Fatalf("field %q %q", f.Tag, f.Value)
		}
		for _, s := range f.Subfields {
			if !utf8.ValidString(s.Value) || s.Code < 0x21 || s.Code > 0x7E {
				t.Fatalf("field %s subfield %q %q", f.Tag, s.Code, s.Value)
			}
		}
	}
	if len(rec.Warnings) > maxWarnings+1 {
		t.Fatalf("%d warnings", len(rec.Warnings))
	}
	for _, w := range rec.Warnings {
		var e *Error
		if !errors.As(w, &e) || e.Ordinal != ordinal || e.Offset < 0 || e.Offset > int64(size) || e.Msg == "" {
			t.Fatalf("warning %v", w)
		}
	}
}

// roundTrip writes rec (splitting long fields) and, when the writer accepts it,
// reads it back as UTF-8 (what the writer writes): the same fields.
func roundTrip(t *testing.T, rec *Record) {
	t.Helper()
	var buf bytes.Buffer
	if err := NewBinaryWriter(&buf, &BinaryWriterOptions{SplitLongFields: true}).Write(rec); err != nil {
		var e *Error
		if !errors.As(err, &e) || e.Err == nil {
			t.Fatalf("writer error %v has no kind", err)
		}
		return
	}
	r, err := NewBinaryReader(&buf, &BinaryReaderOptions{Encoding: EncodingUTF8})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Read()
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	split := false
	for _, f := range rec.Fields {
		split = split || encodedLen(&f) > maxFieldLen
	}
	if !split && !sameFields(rec.Fields, again.Fields) {
		t.Fatalf("round trip changed the fields:\n%q\n%q", rec.Fields, again.Fields)
	}
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one record written: %v", err)
	}
}

func sameFields(a, b []Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Tag != y.Tag || x.Value != y.Value || x.Ind1 != y.Ind1 || x.Ind2 != y.Ind2 || len(x.Subfields) != len(y.Subfields) {
			return false
		}
		for j := range x.Subfields {
			if x.Subfields[j] != y.Subfields[j] {
				return false
			}
		}
	}
	return true
}
