package marc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchTarget is roughly how much input the binary benchmarks work through per
// operation.
const benchTarget = 100 << 20

// goodBinaryRecords returns every record of the good binary files in the shared
// test set, as bytes, skipping the benchmark when the set is absent.
func goodBinaryRecords(b *testing.B) [][]byte {
	b.Helper()
	var recs [][]byte
	for _, f := range binaryFiles {
		if f.broken {
			continue
		}
		data, err := os.ReadFile(filepath.Join(sharedTestdata, f.name))
		if errors.Is(err, os.ErrNotExist) {
			b.Skipf("shared test files not found: %v", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, recordTerminator)
			recs = append(recs, data[:i+1])
			data = data[i+1:]
		}
	}
	return recs
}

// benchReadBuffer is a ~100 MB buffer of real records (every good record of the
// shared files, repeated: MARC-8, UTF-8 and ASCII) and how many it holds.
func benchReadBuffer(b *testing.B) ([]byte, int) {
	b.Helper()
	recs := goodBinaryRecords(b)
	var buf bytes.Buffer
	n := 0
	for buf.Len() < benchTarget {
		for _, r := range recs {
			buf.Write(r)
			n++
		}
	}
	return buf.Bytes(), n
}

// visit touches every field and subfield of rec.
func visit(rec *Record) int {
	total := 0
	for i := range rec.Fields {
		f := &rec.Fields[i]
		total += len(f.Tag) + len(f.Value)
		for _, s := range f.Subfields {
			total += len(s.Value) + int(s.Code)
		}
	}
	return total
}

// BenchmarkBinaryRead reads the buffer with Read (a new Record per record) and
// visits every field and subfield.
func BenchmarkBinaryRead(b *testing.B) {
	data, n := benchReadBuffer(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		r, err := NewBinaryReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
			total += visit(rec)
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	reportRecords(b, n, total)
}

// BenchmarkBinaryReadReuse is BenchmarkBinaryRead with ReadRecord, which reuses
// the fields and subfields: one allocation per record, the record's text.
func BenchmarkBinaryReadReuse(b *testing.B) {
	data, n := benchReadBuffer(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	total := 0
	var rec Record
	for b.Loop() {
		r, err := NewBinaryReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			err := r.ReadRecord(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
			total += visit(&rec)
		}
		if got != n {
			b.Fatalf("read %d records, want %d", got, n)
		}
	}
	reportRecords(b, n, total)
}

func reportRecords(b *testing.B, perOp, total int) {
	b.Helper()
	if total == 0 {
		b.Fatal("nothing read")
	}
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(perOp), "records/op")
}

// BenchmarkBinaryWrite writes the same records (read once) until ~100 MB is out.
func BenchmarkBinaryWrite(b *testing.B) {
	raw := goodBinaryRecords(b)
	recs := make([]*Record, 0, len(raw))
	size := 0
	for _, r := range raw {
		rec, err := Unmarshal(r)
		if err != nil {
			b.Fatal(err)
		}
		out, err := Marshal(rec)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
		size += len(out)
	}
	rounds := (benchTarget + size - 1) / size

	b.SetBytes(int64(rounds * size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := NewBinaryWriter(io.Discard, nil)
		for range rounds {
			for _, rec := range recs {
				if err := w.Write(rec); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportRecords(b, rounds*len(recs), size)
}

// BenchmarkUnmarshalRaw: decoding records already framed, one at a time
// through one Decoder, as a Metadata Import chunk decodes its staged
// records: jazz_1k's records as the catalog stores them (UTF-8 ISO 2709).
func BenchmarkUnmarshalRaw(b *testing.B) {
	raws := marshaledJazz(b)
	dec, err := NewDecoder(nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, raw := range raws {
			if _, err := dec.UnmarshalRaw(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(raws)), "ns/record")
}

// BenchmarkSkim: BenchmarkUnmarshalRaw's records skimmed for a Metadata
// Import's few tags (keys and title) instead of decoded whole.
func BenchmarkSkim(b *testing.B) {
	raws := marshaledJazz(b)
	want := func(t string) bool {
		switch t {
		case "001", "003", "020", "022", "035", "245":
			return true
		}
		return t[0] == '1'
	}
	dec, err := NewDecoder(nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, raw := range raws {
			if s, _, err := dec.Skim(raw, want); err != nil || s == nil {
				b.Fatal(err, "not canonical")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(raws)), "ns/record")
}

// BenchmarkSplice: each skimmed record of BenchmarkSkim spliced with the
// next, taking its 5XX and 9XX fields (a merge).
func BenchmarkSplice(b *testing.B) {
	raws := marshaledJazz(b)
	want := func(t string) bool { return t == "001" || t == "245" }
	var skims []*Skimmed
	for _, raw := range raws {
		s, _, err := new(Decoder).Skim(raw, want)
		if err != nil || s == nil {
			b.Fatal(err, "not canonical")
		}
		skims = append(skims, s)
	}
	from := func(t string) bool { return t[0] == '5' || t[0] == '9' }
	for b.Loop() {
		for i := 1; i < len(skims); i++ {
			if _, err := Splice(skims[i-1], skims[i], from); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(skims)-1)), "ns/record")
}

// marshaledJazz is jazz_1k's records as the catalog stores them (what
// Marshal writes).
func marshaledJazz(b *testing.B) []RawRecord {
	f, err := os.Open("../../testdata/marc/jazz_1k.mrc")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := NewBinaryReader(f, nil)
	if err != nil {
		b.Fatal(err)
	}
	var raws []RawRecord
	for {
		rec, err := r.Read()
		if err != nil {
			return raws
		}
		data, err := Marshal(rec)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, RawRecord{Bytes: data, Ordinal: len(raws) + 1})
	}
}

// BenchmarkSpliceDecoded: what BenchmarkSplice does, on decoded records
// and encoding the result (how Metadata Import merged before Splice).
func BenchmarkSpliceDecoded(b *testing.B) {
	var recs []*Record
	for _, raw := range marshaledJazz(b) {
		rec, err := new(Decoder).UnmarshalRaw(raw)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	from := func(t string) bool { return t[0] == '5' || t[0] == '9' }
	for b.Loop() {
		for i := 1; i < len(recs); i++ {
			out := &Record{Leader: recs[i-1].Leader}
			for _, f := range recs[i-1].Fields {
				if !from(f.Tag) {
					out.Fields = append(out.Fields, f)
				}
			}
			for _, f := range recs[i].Fields {
				if from(f.Tag) {
					out.AddField(f)
				}
			}
			if _, err := Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(recs)-1)), "ns/record")
}
