package marc

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// readAllXML reads every record of a MARCXML document, collecting the records and
// the errors (each of which must be an *Error) separately.
func readAllXML(t *testing.T, r io.Reader, opts *XMLReaderOptions) ([]*Record, []*Error) {
	t.Helper()
	xr := NewXMLReader(r, opts)
	var recs []*Record
	var errs []*Error
	for i := 0; ; i++ {
		require.Less(t, i, 100000, "reader does not terminate")
		rec, err := xr.Read()
		if errors.Is(err, io.EOF) {
			require.Nil(t, rec)
			// EOF is sticky.
			_, err = xr.Read()
			require.ErrorIs(t, err, io.EOF)
			return recs, errs
		}
		if err != nil {
			require.Nil(t, rec)
			var e *Error
			require.ErrorAs(t, err, &e)
			errs = append(errs, e)
			continue
		}
		recs = append(recs, rec)
	}
}

func warningTexts(rec *Record) []string {
	var out []string
	for _, w := range rec.Warnings {
		out = append(out, w.Error())
	}
	return out
}

const oneRecord = `<record>
  <leader>00000nam a2200000 a 4500</leader>
  <controlfield tag="001">ocm1</controlfield>
  <datafield tag="245" ind1="1" ind2="0">
    <subfield code="a">A &amp; B &lt;c&gt;</subfield>
    <subfield code="b"><![CDATA[x<y]]> &#233;t&#xE9;</subfield>
  </datafield>
</record>`

func wantOneRecord() *Record {
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "ocm1"},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', "A & B <c>"}, {'b', "x<y été"}}},
	}}
	copy(rec.Leader[:], "00000nam a2200000 a 4500")
	return rec
}

// prefixed returns oneRecord with every element name prefixed.
func prefixed(p string) string {
	var pairs []string
	for _, e := range []string{"record", "leader", "controlfield", "datafield", "subfield"} {
		pairs = append(pairs, "<"+e, "<"+p+":"+e, "</"+e, "</"+p+":"+e)
	}
	return strings.NewReplacer(pairs...).Replace(oneRecord)
}

func TestXMLReaderShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		n    int
	}{
		{"collection with default namespace", `<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">` + oneRecord + oneRecord + `</collection>`, 2},
		{"prefixed", `<marc:collection xmlns:marc="http://www.loc.gov/MARC21/slim">` + prefixed("marc") + `</marc:collection>`, 1},
		{"lone record with its own namespace", strings.Replace(oneRecord, "<record>", `<record xmlns="http://www.loc.gov/MARC21/slim">`, 1), 1},
		{"no namespace, no root: fragments", oneRecord + "\n" + oneRecord + "\n" + oneRecord, 3}, // warned: see TestXMLReaderFragments
		{"undeclared prefix", prefixed("m"), 1},
		{"OAI-PMH wrapper", `<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>
<record><header><identifier>oai:x:1</identifier></header><metadata>` +
			strings.Replace(oneRecord, "<record>", `<record xmlns="http://www.loc.gov/MARC21/slim">`, 1) +
			`</metadata></record></ListRecords></OAI-PMH>`, 1},
		{"MarcXchange", `<collection xmlns="info:lc/xmlns/marcxchange-v2">` + oneRecord + `</collection>`, 1},
		{"ISO-8859-1", `<?xml version="1.0" encoding="ISO-8859-1"?><collection>` +
			strings.Replace(oneRecord, "&#233;t&#xE9;", "\xe9t\xe9", 1) + `</collection>`, 1},
		{"empty collection", `<collection xmlns="http://www.loc.gov/MARC21/slim"/>`, 0},
		{"empty input", ``, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, errs := readAllXML(t, strings.NewReader(tt.doc), nil)
			require.Empty(t, errs)
			require.Len(t, recs, tt.n)
			for _, rec := range recs {
				rec.Warnings = slices.DeleteFunc(rec.Warnings, func(w error) bool { return strings.Contains(w.Error(), "top-level") })
				require.Empty(t, rec.Warnings)
				rec.Warnings = nil
				require.Equal(t, wantOneRecord(), rec)
			}
		})
	}
}

func TestXMLReaderFragments(t *testing.T) {
	t.Parallel()
	recs, errs := readAllXML(t, strings.NewReader(oneRecord+"\n"+oneRecord+"\n"+oneRecord), nil)
	require.Empty(t, errs)
	require.Len(t, recs, 3)
	require.Empty(t, recs[0].Warnings)
	require.Equal(t, []string{`record 2 (offset 284, 001 "ocm1"): the document has more than one top-level element (a series of fragments, not well-formed XML); every record is read`},
		warningTexts(recs[1]))
	require.Empty(t, recs[2].Warnings)
}

func TestXMLReaderRecovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record string // inside <record>
		want   []Field
		leader string // "" for the default
		warn   []string
	}{
		{
			name:   "subfield without code",
			record: `<datafield tag="020" ind1=" " ind2=" "><subfield>0679450041</subfield></datafield>`,
			want:   []Field{{Tag: "020", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'?', "0679450041"}}}},
			warn:   []string{"field 020: subfield without a code attribute; code set to '?'"},
		},
		{
			name:   "bad subfield codes",
			record: `<datafield tag="500" ind1=" " ind2=" "><subfield code="">a</subfield><subfield code="ab">b</subfield><subfield code="&#xFFFD;">c</subfield><subfield code=" ">d</subfield></datafield>`,
			want:   []Field{{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'?', "a"}, {'a', "b"}, {'?', "c"}, {'?', "d"}}}},
			warn: []string{"empty code", `subfield code "ab" is more than one character`,
				"subfield code \"\ufffd\" is not a printable ASCII character", `subfield code " " is not a printable ASCII character`},
		},
		{
			name:   "datafield without indicators",
			record: `<datafield tag="911"><subfield code="a">x</subfield></datafield>`,
			want:   []Field{{Tag: "911", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', "x"}}}},
			warn:   []string{"field 911: no ind1 attribute", "field 911: no ind2 attribute"},
		},
		{
			name:   "odd indicators",
			record: `<datafield tag="245" ind1="10" ind2=""><subfield code="a">x</subfield></datafield><datafield tag="246" ind1="&#xE9;" ind2="z"><subfield code="a">y</subfield></datafield>`,
			want: []Field{
				{Tag: "245", Ind1: '1', Ind2: ' ', Subfields: []Subfield{{'a', "x"}}},
				{Tag: "246", Ind1: ' ', Ind2: 'z', Subfields: []Subfield{{'a', "y"}}},
			},
			warn: []string{`ind1 "10" is more than one character`, "ind2 is empty", "ind1 \"\u00e9\" is not a printable ASCII"},
		},
		{
			name:   "bad tags kept",
			record: `<datafield tag="42" ind1="z" ind2="z"><subfield code="a">dc</subfield></datafield><controlfield tag="5&#xE9;0">v</controlfield><datafield ind1=" " ind2=" "><subfield code="a">q</subfield></datafield>`,
			want: []Field{
				{Tag: "42", Ind1: 'z', Ind2: 'z', Subfields: []Subfield{{'a', "dc"}}},
				{Tag: "5?0", Value: "v"},
				{Tag: "", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', "q"}}},
			},
			warn: []string{`field 42: tag "42" is not three letters or digits`, `tag "5é0" is not three letters or digits`,
				"not a control field tag", "<datafield> without a tag attribute"},
		},
		{
			name:   "short leader",
			leader: "      Z   22 4500",
			want:   []Field{},
			warn:   []string{`leader "      Z   22 4500" is 17 characters, not 24; padded`, `leader/20-21`},
		},
		{
			name:   "indented leader",
			leader: "\n    00000nam a2200000 a 4500\n  ",
			want:   []Field{},
		},
		{
			name:   "long leader",
			leader: "00000nam a2200000 a 4500xyz",
			want:   []Field{},
			warn:   []string{`is 27 characters, not 24; cut to 24`},
		},
		{
			name: "no leader",
			want: []Field{},
			warn: []string{"record has no leader"},
		},
		{
			name:   "stray text, elements and comments",
			record: `junk<foo>bar</foo><controlfield tag="001">a<!-- c -->b</controlfield><datafield tag="500" ind1=" " ind2=" ">more<x/><subfield code="a">t<i>it</i>le</subfield></datafield><datafield tag="600" ind1=" " ind2=" "/>`,
			want: []Field{
				{Tag: "001", Value: "ab"},
				{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', "title"}}},
				{Tag: "600", Ind1: ' ', Ind2: ' '},
			},
			warn: []string{`text "junk" outside any field`, "unexpected element <foo> in the record", `text "more" outside any subfield`,
				"unexpected element <x> in a data field", "element <i> inside <subfield>; its text is kept", "field 600: data field has no subfields"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leader := "<leader>00000nam a2200000 a 4500</leader>"
			if tt.leader != "" {
				leader = "<leader>" + tt.leader + "</leader>"
			}
			if tt.name == "no leader" {
				leader = ""
			}
			doc := `<collection xmlns="http://www.loc.gov/MARC21/slim"><record>` + leader + tt.record + `</record></collection>`
			recs, errs := readAllXML(t, strings.NewReader(doc), nil)
			require.Empty(t, errs)
			require.Len(t, recs, 1)
			rec := recs[0]
			if len(tt.want) == 0 {
				require.Empty(t, rec.Fields)
			} else {
				require.Equal(t, tt.want, rec.Fields)
			}
			got := warningTexts(rec)
			require.Len(t, got, len(tt.warn), "warnings: %q", got)
			for i, w := range tt.warn {
				require.Contains(t, got[i], w)
			}
			// The structural leader positions are always right.
			require.Equal(t, byte('a'), rec.Leader[9])
			require.Equal(t, "22", string(rec.Leader[10:12]))
			require.Equal(t, "4500", string(rec.Leader[20:24]))
			for _, w := range rec.Warnings {
				var e *Error
				require.ErrorAs(t, w, &e)
				require.Equal(t, 1, e.Ordinal)
				require.Equal(t, int64(len(`<collection xmlns="http://www.loc.gov/MARC21/slim">`)), e.Offset)
			}
		})
	}
}

func TestXMLReaderLeaderPositions(t *testing.T) {
	t.Parallel()
	doc := `<collection><record><leader>01234cam  2200289 i 4500</leader></record>` +
		`<record><leader>     nam  32     u  3300</leader></record></collection>`
	recs, errs := readAllXML(t, strings.NewReader(doc), nil)
	require.Empty(t, errs)
	require.Len(t, recs, 2)
	require.Equal(t, "01234cam a2200289 i 4500", string(recs[0].Leader[:]))
	require.Empty(t, recs[0].Warnings, "a blank leader/09 is no problem in XML, which is Unicode")
	require.Equal(t, "     nam a22     u  4500", string(recs[1].Leader[:]))
	require.Len(t, recs[1].Warnings, 2)
}

func TestXMLReaderErrors(t *testing.T) {
	t.Parallel()
	rec := func(id, body string) string {
		return `<record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">` + id + `</controlfield>` + body + `</record>`
	}
	good := func(id string) string {
		return rec(id, `<datafield tag="245" ind1="0" ind2="0"><subfield code="a">t</subfield></datafield>`)
	}
	tests := []struct {
		name     string
		doc      string
		ids      []string // control numbers of the records read
		errs     []string // in order
		ordinals []int
		ids2     []string // 001 of each error
		tag      string   // field of the first error
	}{
		{
			name: "bad entity spoils one record",
			doc:  `<collection>` + good("1") + rec("2", `<datafield tag="245" ind1="0" ind2="0"><subfield code="a">caf&eacute;</subfield></datafield>`) + good("3") + `</collection>`,
			ids:  []string{"1", "3"}, errs: []string{"XML is not well-formed near byte"}, ordinals: []int{2}, ids2: []string{"2"}, tag: "245",
		},
		{
			name: "mismatched end tag",
			doc:  `<collection>` + good("1") + rec("2", `<datafield tag="245" ind1="0" ind2="0"><subfield code="a">t</datafield>`) + good("3") + `</collection>`,
			ids:  []string{"1", "3"}, errs: []string{"element <subfield> closed by </datafield>"}, ordinals: []int{2}, ids2: []string{"2"}, tag: "245",
		},
		{
			name: "illegal character",
			doc:  `<collection>` + good("1") + rec("2", `<datafield tag="245" ind1="0" ind2="0"><subfield code="a">a`+"\x1b"+`b</subfield></datafield>`) + good("3") + `</collection>`,
			ids:  []string{"1", "3"}, errs: []string{"illegal character code U+001B"}, ordinals: []int{2}, ids2: []string{"2"}, tag: "245",
		},
		{
			name: "invalid UTF-8",
			doc:  `<collection>` + good("1") + rec("2", `<datafield tag="245" ind1="0" ind2="0"><subfield code="a">a`+"\xff"+`b</subfield></datafield>`) + good("3") + `</collection>`,
			ids:  []string{"1", "3"}, errs: []string{"invalid UTF-8"}, ordinals: []int{2}, ids2: []string{"2"}, tag: "245",
		},
		{
			name: "unclosed record",
			doc:  `<collection>` + good("1") + strings.TrimSuffix(good("2"), "</record>") + good("3") + `</collection>`,
			ids:  []string{"1", "3"}, errs: []string{"the record is not closed: another record starts at byte"}, ordinals: []int{2}, ids2: []string{"2"},
		},
		{
			name: "truncated",
			doc:  `<collection>` + good("1") + good("2")[:60],
			ids:  []string{"1"}, errs: []string{"the document ends inside the record"}, ordinals: []int{2}, ids2: []string{""},
		},
		{
			name: "garbage between records",
			doc:  `<collection>` + good("1") + `<<<>` + good("2") + `</collection>`,
			ids:  []string{"1", "2"}, errs: []string{"(outside any record)"}, ordinals: []int{0}, ids2: []string{""},
		},
		{
			name: "error in the prolog",
			doc:  `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY foo "bar">]><collection>` + good("1") + `&foo;` + good("2") + `</collection>`,
			ids:  []string{"1", "2"}, errs: []string{"(outside any record)"}, ordinals: []int{0}, ids2: []string{""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, errs := readAllXML(t, strings.NewReader(tt.doc), nil)
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.ControlNumber())
			}
			require.Equal(t, tt.ids, ids)
			require.Len(t, errs, len(tt.errs), "errors: %v", errs)
			if len(errs) > 0 {
				require.Equal(t, tt.tag, errs[0].Tag)
			}
			for i, e := range errs {
				require.Contains(t, e.Msg, tt.errs[i])
				require.Equal(t, tt.ordinals[i], e.Ordinal)
				require.Equal(t, tt.ids2[i], e.ID)
				require.ErrorIs(t, e, ErrMalformed)
				if e.Ordinal > 0 {
					// The offset is that of the record's start tag.
					require.True(t, strings.HasPrefix(tt.doc[e.Offset:], "<record>"), "offset %d: %q", e.Offset, tt.doc[e.Offset:])
				}
			}
		})
	}
}

func TestXMLReaderEncodingDeclaration(t *testing.T) {
	t.Parallel()
	doc := `<?xml version="1.0" encoding="MARC-8"?><collection>` + oneRecord + `</collection>`
	recs, errs := readAllXML(t, strings.NewReader(doc), nil)
	require.Empty(t, errs)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].Warnings, 1)
	require.ErrorIs(t, recs[0].Warnings[0], ErrEncoding)
	require.Contains(t, recs[0].Warnings[0].Error(), `declares encoding "MARC-8"; read as UTF-8`)

	recs, errs = readAllXML(t, strings.NewReader(doc), &XMLReaderOptions{Strict: true})
	require.Empty(t, recs)
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], ErrEncoding)
	require.Equal(t, 1, errs[0].Ordinal)
}

func TestXMLReaderInputError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader(`<collection>`+oneRecord), iotest.ErrReader(boom))
	xr := NewXMLReader(r, nil)
	rec, err := xr.Read()
	require.NoError(t, err)
	require.Equal(t, "ocm1", rec.ControlNumber())
	_, err = xr.Read()
	require.ErrorIs(t, err, boom)
	_, err = xr.Read()
	require.ErrorIs(t, err, io.EOF)

	// One byte at a time.
	recs, errs := readAllXML(t, iotest.OneByteReader(strings.NewReader(oneRecord+oneRecord)), nil)
	require.Empty(t, errs)
	require.Len(t, recs, 2)
}

// sharedMARCDir is where the shared MARC test files are: $BINDERY_MARC_TESTDATA, or
// /work/shared/testdata/marc.
func sharedMARCDir() string {
	if d := os.Getenv("BINDERY_MARC_TESTDATA"); d != "" {
		return d
	}
	return "/work/shared/testdata/marc"
}

// sharedMARCFile returns the path of a shared MARC test file (dir/name), preferring the
// copy under testdata/, and skips the test when there is none.
func sharedMARCFile(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{filepath.Join("testdata", name), filepath.Join(sharedMARCDir(), name)} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("test file %s not found (set BINDERY_MARC_TESTDATA)", name)
	return ""
}

func TestXMLReaderFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		n     int
		warns []string
	}{
		{"evergreen/concerto_authorities.xml", 72, nil},
		{"evergreen/concerto_bibs.xml", 100, nil},
		{"evergreen/serials_marc21.xml", 7, []string{`record 2 (offset 5142, 001 "01-0321871"): the document has more than one top-level element`}},
		{"marc4j/chabon.xml", 2, nil},
		{"marc4j/summerland.xml", 1, nil},
		{"pymarc/batch.xml", 2, nil},
		{"marc4j/chabon-missing-subfield-code.xml", 1, []string{`record 1 (offset 92, 001 "11939876"), field 020: subfield without a code attribute; code set to '?'`}},
		{"marc4j/cruel-cruel-indicatorless-summerland.xml", 1, []string{"field 911: no ind1 attribute; set to blank", "field 911: no ind2 attribute; set to blank"}},
		{"pymarc/bad_tag.xml", 1, []string{`field 42: tag "42" is not three letters or digits`, "padded with blanks", "leader/20-21"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(sharedMARCFile(t, tt.file))
			require.NoError(t, err)
			defer f.Close()
			recs, errs := readAllXML(t, f, nil)
			require.Empty(t, errs)
			require.Len(t, recs, tt.n)
			var got []string
			for _, r := range recs {
				got = append(got, warningTexts(r)...)
			}
			require.Len(t, got, len(tt.warns), "%q", got)
			for i, w := range tt.warns {
				require.Contains(t, got[i], w)
			}
		})
	}
}
