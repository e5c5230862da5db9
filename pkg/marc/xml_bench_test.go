package marc

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// xmlBenchTarget is roughly how much input the MARCXML benchmarks work through
// per operation (less than the binary ones': MARCXML is 3-4 times bigger).
const xmlBenchTarget = 32 << 20

// xmlBenchRecords reads every good record of the shared binary files once
// (goodBinaryRecords, bench_test.go): MARC-8, UTF-8 and ASCII records.
func xmlBenchRecords(b *testing.B) []*Record {
	b.Helper()
	raw := goodBinaryRecords(b)
	recs := make([]*Record, 0, len(raw))
	for _, r := range raw {
		rec, err := Unmarshal(r)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// xmlBenchDocument is a MARCXML collection of about xmlBenchTarget bytes made
// of the shared records, and how many records it holds.
func xmlBenchDocument(b *testing.B) ([]byte, int) {
	b.Helper()
	recs := xmlBenchRecords(b)
	var buf bytes.Buffer
	w := NewXMLWriter(&buf)
	n := 0
	for buf.Len() < xmlBenchTarget {
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), n
}

// BenchmarkXMLRead reads a MARCXML collection and visits every field and
// subfield.
func BenchmarkXMLRead(b *testing.B) {
	doc, n := xmlBenchDocument(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		r := NewXMLReader(bytes.NewReader(doc), nil)
		got := 0
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
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

// BenchmarkXMLWrite writes records (read once) as MARCXML until about
// xmlBenchTarget bytes are out. The bytes counted are the output's.
func BenchmarkXMLWrite(b *testing.B) {
	recs := xmlBenchRecords(b)
	var probe bytes.Buffer
	w := NewXMLWriter(&probe)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	rounds := max(1, xmlBenchTarget/probe.Len())
	var out countingWriter
	b.SetBytes(int64(rounds * probe.Len()))
	b.ReportAllocs()
	for b.Loop() {
		w := NewXMLWriter(&out)
		for range rounds {
			for _, r := range recs {
				if err := w.Write(r); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, rounds*len(recs), out.n)
}

// BenchmarkBinaryToXML converts binary records to MARCXML end to end: the
// binary reader (MARC-8 decoded) into the MARCXML writer. The bytes counted are
// the input's.
func BenchmarkBinaryToXML(b *testing.B) {
	data, n := benchReadBuffer(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var out countingWriter
	for b.Loop() {
		r, err := NewBinaryReader(bytes.NewReader(data), nil)
		if err != nil {
			b.Fatal(err)
		}
		w := NewXMLWriter(&out)
		var rec Record
		for {
			err := r.ReadRecord(&rec)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Write(&rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, n, out.n)
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return len(p), nil
}
