package marc8

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// sharedMARC8Files are the shared test files whose records are MARC-8.
var sharedMARC8Files = []string{
	"evergreen/jazz_1k.mrc",
	"evergreen/lul_fre_100.mrc",
	"pymarc/marc8.dat",
}

// sharedMARCDir is /work/shared/testdata/marc, found relative to this package
// (the shared directory is a sibling of the repository root).
const sharedMARCDir = "../../../shared/testdata/marc"

// marcFields returns the data of every field of every record in the shared
// MARC-8 files, without field terminators: indicators and subfield
// delimiters included for data fields. It skips the test when the files are
// absent.
func marcFields(tb testing.TB) [][]byte {
	tb.Helper()
	var fields [][]byte
	for _, name := range sharedMARC8Files {
		raw, err := os.ReadFile(filepath.Join(sharedMARCDir, name))
		if os.IsNotExist(err) {
			tb.Skipf("shared MARC test data not found: %v", err)
		}
		if err != nil {
			tb.Fatal(err)
		}
		fields = append(fields, splitFields(raw)...)
	}
	return fields
}

// splitFields is a minimal ISO 2709 reader: it cuts the input at record
// terminators and uses each leader's base address and directory, skipping
// whatever does not parse.
func splitFields(raw []byte) [][]byte {
	var fields [][]byte
	for _, rec := range bytes.Split(raw, []byte{0x1D}) {
		if len(rec) < 25 {
			continue
		}
		base, err := strconv.Atoi(string(rec[12:17]))
		if err != nil || base < 25 || base > len(rec) {
			continue
		}
		dir := rec[24 : base-1]
		for len(dir) >= 12 {
			length, err1 := strconv.Atoi(string(dir[3:7]))
			start, err2 := strconv.Atoi(string(dir[7:12]))
			dir = dir[12:]
			if err1 != nil || err2 != nil || length < 1 || base+start+length > len(rec) {
				continue
			}
			fields = append(fields, bytes.TrimSuffix(rec[base+start:base+start+length], []byte{0x1E}))
		}
	}
	return fields
}

// marcValues returns the values yaz-marcdump converts one at a time: control
// field data and the data of each subfield (without delimiter and code).
func marcValues(tb testing.TB) [][]byte {
	tb.Helper()
	var values [][]byte
	for _, f := range marcFields(tb) {
		if bytes.IndexByte(f, 0x1F) < 0 {
			values = append(values, f)
			continue
		}
		for _, sf := range bytes.Split(f, []byte{0x1F})[1:] {
			if len(sf) > 1 {
				values = append(values, sf[1:])
			}
		}
	}
	return values
}
