package catalog_test

import (
	"os"
	"testing"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// jazz reads the shared jazz_1k.mrc records.
func jazz(b *testing.B) []*marc.Record {
	f, err := os.Open("../../testdata/marc/jazz_1k.mrc")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := marc.NewBinaryReader(f, nil)
	if err != nil {
		b.Fatal(err)
	}
	var recs []*marc.Record
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
		recs = append(recs, rec)
	}
	return recs
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
