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

// BenchmarkKeys, BenchmarkTitle, BenchmarkMerge: per record of jazz_1k,
// the catalog work a Metadata Import does for each record it reads or
// merges.
func BenchmarkKeys(b *testing.B) {
	recs := jazz(b)
	for b.Loop() {
		for _, r := range recs {
			catalog.Keys(r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func BenchmarkTitle(b *testing.B) {
	recs := jazz(b)
	for b.Loop() {
		for _, r := range recs {
			catalog.Title(r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func BenchmarkMerge(b *testing.B) {
	recs := jazz(b)
	rules := config.MergeRules{KeepFromExisting: []string{"590", "9XX"}}
	for b.Loop() {
		for i, r := range recs {
			catalog.Merge(recs[(i+1)%len(recs)], r, rules)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
