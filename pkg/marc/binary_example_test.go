package marc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bindery/bindery/pkg/marc"
)

func ExampleBinaryReader() {
	rec := &marc.Record{Fields: []marc.Field{
		{Tag: "001", Value: "ocm123"},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "The pragmatic programmer /"}, {Code: 'c', Value: "Andrew Hunt."}}},
	}}
	data, err := marc.Marshal(rec)
	if err != nil {
		panic(err)
	}
	// Two copies separated by a newline, then a broken record.
	input := string(data) + "\n" + string(data) + "00012junk\x1d"

	r, err := marc.NewBinaryReader(strings.NewReader(input), nil)
	if err != nil {
		panic(err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("skipped:", err) // an *Error; the reader goes on
			continue
		}
		title, _ := rec.FirstField("245").FirstSubfield('a')
		fmt.Println(rec.ControlNumber(), title, len(rec.Warnings))
	}
	// Output:
	// ocm123 The pragmatic programmer / 0
	// ocm123 The pragmatic programmer / 0
	// skipped: record 3 (offset 205): record is 10 bytes, too short for a leader and a directory
}

func ExampleBinaryWriter() {
	var out bytes.Buffer
	w := marc.NewBinaryWriter(&out, nil)
	rec := &marc.Record{}
	rec.AddField(marc.Field{Tag: "245", Ind1: '0', Ind2: '0', Subfields: []marc.Subfield{{Code: 'a', Value: "Title."}}})
	rec.AddField(marc.Field{Tag: "001", Value: "x1"}) // goes before the 245
	if err := w.Write(rec); err != nil {
		panic(err)
	}

	long := &marc.Record{Fields: []marc.Field{{Tag: "520", Subfields: []marc.Subfield{{Code: 'a', Value: strings.Repeat("x", 10000)}}}}}
	err := w.Write(long)
	fmt.Println(errors.Is(err, marc.ErrFieldTooLong), err)

	fmt.Printf("%q\n", out.String())
	// Output:
	// true record 2 (offset 64), field 520: field is 10005 bytes; ISO 2709 allows 9999
	// "00064    a2200049   4500001000300000245001100003\x1ex1\x1e00\x1faTitle.\x1e\x1d"
}
