package catalog_test

import (
	"os"
	"testing"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// jazz reads the shared jazz_1k.mrc records.
func jazz(b *testing.B) []*marc.Record { return readRecords(b, "jazz_1k.mrc") }

// readRecords reads the records of a file in testdata/marc.
func readRecords(tb testing.TB, name string) []*marc.Record {
	tb.Helper()
	f, err := os.Open("../../testdata/marc/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := marc.NewBinaryReader(f, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var recs []*marc.Record
	for {
		rec, err := r.Read()
		if err != nil {
			return recs
		}
		recs = append(recs, rec)
	}
}

// perRecord runs fn on every record of recs per iteration, and reports the
// time per record.
func perRecord(b *testing.B, recs []*marc.Record, fn func(i int, r *marc.Record)) {
	for b.Loop() {
		for i, r := range recs {
			fn(i, r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkKeys, BenchmarkTitle, BenchmarkMerge: per record of jazz_1k,
// the catalog work a Metadata Import does for each record it reads or
// merges.
func BenchmarkKeys(b *testing.B) {
	perRecord(b, jazz(b), func(_ int, r *marc.Record) { catalog.Keys(r) })
}

func BenchmarkTitle(b *testing.B) {
	perRecord(b, jazz(b), func(_ int, r *marc.Record) { catalog.Title(r) })
}

func BenchmarkMerge(b *testing.B) {
	recs := jazz(b)
	rules := config.MergeRules{KeepFromExisting: []string{"590", "9XX"}}
	perRecord(b, recs, func(i int, r *marc.Record) { catalog.Merge(recs[(i+1)%len(recs)], r, rules) })
}
