package seed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bindery/bindery/pkg/marc"
)

// MARCSources are the project's own copies of real bibliographic files
// (relative to the project root) that MARC replicates by default.
var MARCSources = []string{
	"testdata/marc/jazz_1k.mrc",
	"testdata/marc/lul_fre_100.mrc",
	"testdata/marc/concerto_bibs.xml",
}

// MARCOrg is the 003 (and the 035 prefix) of generated records.
const MARCOrg = "BNDSEED"

// LoadTemplates reads the bibliographic records of files (MARCXML when the
// name ends in .xml, else ISO 2709) that can serve as templates: readable,
// with a 245, and encodable as UTF-8 ISO 2709. Unreadable records are left
// out; so are the few that cannot be written back.
func LoadTemplates(files ...string) ([]*marc.Record, error) {
	var out []*marc.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		var read func() (*marc.Record, error)
		if strings.EqualFold(filepath.Ext(name), ".xml") {
			read = marc.NewXMLReader(f, nil).Read
		} else {
			br, err := marc.NewBinaryReader(f, nil)
			if err != nil {
				f.Close()
				return nil, err
			}
			read = br.Read
		}
		for {
			rec, err := read()
			if errors.Is(err, io.EOF) {
				break
			}
			var me *marc.Error
			if errors.As(err, &me) {
				continue
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if f := rec.FirstField("245"); f == nil || len(f.Subfields) == 0 {
				continue
			}
			rec.Warnings = nil
			if _, err := marc.Marshal(rec); err != nil {
				continue
			}
			out = append(out, rec)
		}
		f.Close()
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no usable template record in %s", strings.Join(files, ", "))
	}
	return out, nil
}

// MARCIdentity is what makes generated record i (1-based) unique: its 001,
// the 035 $a and the ISBN-13 in its 020 $a. Record i is the same in every
// file generated from the same templates, so a file of N records is the
// first N records of any longer one (a benchmark pre-imports half of a file
// by generating that half).
func MARCIdentity(i int64) (controlNumber, systemNumber, isbn string) {
	n := fmt.Sprintf("%010d", i)
	d := []byte(fmt.Sprintf("978%09d", i%1_000_000_000))
	sum := 0
	for k, c := range d {
		w := 1
		if k%2 == 1 {
			w = 3
		}
		sum += w * int(c-'0')
	}
	return "bnd" + n, "(" + MARCOrg + ")" + n, string(append(d, byte('0'+(10-sum%10)%10)))
}

// WriteMARC writes n records as ISO 2709 (UTF-8) to w: record i is template
// (i-1) mod len(templates) with its 001, 003, 035 and 020 replaced by
// MARCIdentity(i) and its 022 left out, so no match key repeats. Memory stays constant whatever n; w is buffered here.
// It returns the bytes written.
func WriteMARC(w io.Writer, templates []*marc.Record, n int64) (int64, error) {
	if len(templates) == 0 {
		return 0, errors.New("no template records")
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	mw := marc.NewBinaryWriter(bw, &marc.BinaryWriterOptions{SplitLongFields: true})
	var fields []marc.Field
	for i := int64(1); i <= n; i++ {
		t := templates[(i-1)%int64(len(templates))]
		cn, sn, isbn := MARCIdentity(i)
		fields = append(fields[:0],
			marc.Field{Tag: "001", Value: cn},
			marc.Field{Tag: "003", Value: MARCOrg})
		added020, added035 := false, false
		for _, f := range t.Fields {
			switch f.Tag {
			case "001", "003", "020", "022", "035": // 022: no ISSN repeats
				continue
			}
			if !f.IsControl() {
				if !added020 && f.Tag > "020" {
					fields = append(fields, marc.Field{Tag: "020", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: isbn}}})
					added020 = true
				}
				if !added035 && f.Tag > "035" {
					fields = append(fields, marc.Field{Tag: "035", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: sn}}})
					added035 = true
				}
			}
			fields = append(fields, f)
		}
		if !added020 {
			fields = append(fields, marc.Field{Tag: "020", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: isbn}}})
		}
		if !added035 {
			fields = append(fields, marc.Field{Tag: "035", Ind1: ' ', Ind2: ' ', Subfields: []marc.Subfield{{Code: 'a', Value: sn}}})
		}
		rec := marc.Record{Leader: t.Leader, Fields: fields}
		if err := mw.Write(&rec); err != nil {
			return cw.n, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// MARCFile writes an n-record file to path (see WriteMARC) from the templates
// in sources (MARCSources when empty, relative to the working directory).
func MARCFile(path string, n int64, sources ...string) (int64, error) {
	if len(sources) == 0 {
		sources = MARCSources
	}
	templates, err := LoadTemplates(sources...)
	if err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	size, err := WriteMARC(f, templates, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return 0, err
	}
	return size, nil
}
