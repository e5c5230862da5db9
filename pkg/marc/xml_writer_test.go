package marc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestXMLWriterOutput(t *testing.T) {
	t.Parallel()
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "ocm1"},
		{Tag: "100", Ind1: '1', Subfields: []Subfield{{'a', "Hunt, Andrew."}}},
		{Tag: "245", Ind1: '1', Ind2: '4', Subfields: []Subfield{{'a', `The "A" & <B>`}, {'c', "Été"}}},
	}}
	copy(rec.Leader[:], "00000nam  2200000 a 4500")
	var buf bytes.Buffer
	w := NewXMLWriter(&buf)
	require.NoError(t, w.Write(rec))
	require.Zero(t, buf.Len(), "output is buffered")
	require.NoError(t, w.Close())
	require.Equal(t, `<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
<record>
  <leader>00000nam a2200000 a 4500</leader>
  <controlfield tag="001">ocm1</controlfield>
  <datafield tag="100" ind1="1" ind2=" ">
    <subfield code="a">Hunt, Andrew.</subfield>
  </datafield>
  <datafield tag="245" ind1="1" ind2="4">
    <subfield code="a">The "A" &amp; &lt;B&gt;</subfield>
    <subfield code="c">Été</subfield>
  </datafield>
</record>
</collection>
`, buf.String())
}

func TestXMLWriterEmpty(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewXMLWriter(&buf)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close is idempotent")
	require.Equal(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n</collection>\n", buf.String())
	require.Error(t, w.Write(&Record{}))
	recs, errs := readAllXML(t, &buf, nil)
	require.Empty(t, recs)
	require.Empty(t, errs)
}

func TestXMLWriterEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, text, attr, back string // back: what a parser gives back
	}{
		{"plain", "abc", "abc", "abc", "abc"},
		{"markup", `a&b<c>d"e'f`, `a&amp;b&lt;c&gt;d"e'f`, `a&amp;b&lt;c&gt;d&quot;e'f`, `a&b<c>d"e'f`},
		{"white space", "a\tb\nc\rd", "a\tb\nc&#13;d", "a&#9;b&#10;c&#13;d", "a\tb\nc\rd"},
		{"control characters", "a\x1bb\x00c\x1fd\x7f", "a\uFFFDb\uFFFDc\uFFFDd\x7f", "a\uFFFDb\uFFFDc\uFFFDd\x7f", "a\uFFFDb\uFFFDc\uFFFDd\x7f"},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD", "a\uFFFDb\uFFFD"},
		{"noncharacters", "a\uFFFEb\uFFFFc", "a\uFFFDb\uFFFDc", "a\uFFFDb\uFFFDc", "a\uFFFDb\uFFFDc"},
		{"multibyte", "Ελληνικά 中文 𝄞 \u0085", "Ελληνικά 中文 𝄞 \u0085", "Ελληνικά 中文 𝄞 \u0085", "Ελληνικά 中文 𝄞 \u0085"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.text, string(appendXMLEscaped(nil, tt.in, false)))
			require.Equal(t, tt.attr, string(appendXMLEscaped(nil, tt.in, true)))

			// Written in a record, the value reads back as back, and the tag
			// (an attribute) too.
			rec := &Record{Fields: []Field{
				{Tag: "001", Value: tt.in},
				{Tag: tt.in, Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', tt.in}}},
			}}
			var buf bytes.Buffer
			w := NewXMLWriter(&buf)
			require.NoError(t, w.Write(rec))
			require.NoError(t, w.Close())
			requireWellFormed(t, buf.Bytes())
			recs, errs := readAllXML(t, &buf, nil)
			require.Empty(t, errs)
			require.Len(t, recs, 1)
			require.Equal(t, tt.back, recs[0].Fields[0].Value)
			require.Equal(t, tt.back, recs[0].Fields[1].Subfields[0].Value)
			require.Equal(t, xmlPrintable(tt.back), recs[0].Fields[1].Tag)
		})
	}
}

// requireWellFormed checks a document with encoding/xml's full (namespace-aware,
// end-tag-matching) tokenizer.
func requireWellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err != nil {
			require.ErrorIs(t, err, io.EOF, "document is not well-formed:\n%s", doc)
			return
		}
	}
}

func TestXMLWriterFieldShapes(t *testing.T) {
	t.Parallel()
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "control"},
		{Tag: "009", Subfields: []Subfield{{'a', "control tag, data shape"}}},
		{Tag: "500", Value: "data tag, control shape"},
		{Tag: "500", Ind1: 0, Ind2: 0}, // no subfields, no value: a data field
		{Tag: "005"},                   // empty control field
	}}
	var buf bytes.Buffer
	w := NewXMLWriter(&buf)
	require.NoError(t, w.Write(rec))
	require.NoError(t, w.Close())
	out := buf.String()
	require.Contains(t, out, `<controlfield tag="001">control</controlfield>`)
	require.Contains(t, out, "<datafield tag=\"009\" ind1=\" \" ind2=\" \">\n    <subfield code=\"a\">control tag, data shape</subfield>")
	require.Contains(t, out, `<controlfield tag="500">data tag, control shape</controlfield>`)
	require.Contains(t, out, "<datafield tag=\"500\" ind1=\" \" ind2=\" \">\n  </datafield>")
	require.Contains(t, out, `<controlfield tag="005"></controlfield>`)
	// Leader bytes that are not printable ASCII are blanks; leader/09 is 'a'.
	require.Contains(t, out, "<leader>         a              </leader>")
}

func TestXMLWriterRejects(t *testing.T) {
	t.Parallel()
	good := &Record{Fields: []Field{{Tag: "001", Value: "ok"}}}
	tests := []struct {
		name string
		f    Field
		msg  string
	}{
		{"zero code", Field{Tag: "245", Subfields: []Subfield{{0, "x"}}}, "subfield code byte 0x00"},
		{"control code", Field{Tag: "245", Subfields: []Subfield{{0x1f, "x"}}}, "subfield code byte 0x1F"},
		{"non-ASCII code", Field{Tag: "245", Subfields: []Subfield{{0xC3, "x"}}}, "subfield code byte 0xC3"},
		{"control indicator", Field{Tag: "245", Ind1: 0x1b, Subfields: []Subfield{{'a', "x"}}}, "indicator byte 0x1B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w := NewXMLWriter(&buf)
			require.NoError(t, w.Write(good))
			bad := &Record{Fields: []Field{{Tag: "001", Value: "bad1"}, tt.f}}
			err := w.Write(bad)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.ErrorIs(t, err, ErrInvalidField)
			require.Equal(t, 2, e.Ordinal)
			require.Equal(t, "bad1", e.ID)
			require.Equal(t, "245", e.Tag)
			require.Contains(t, e.Msg, tt.msg)
			// Nothing of the bad record was written; the writer goes on.
			require.NoError(t, w.Write(good))
			require.NoError(t, w.Close())
			require.NotContains(t, buf.String(), "bad1")
			recs, errs := readAllXML(t, &buf, nil)
			require.Empty(t, errs)
			require.Len(t, recs, 2)
		})
	}
}

type failWriter struct {
	n   int // bytes accepted before failing
	err error
}

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

func TestXMLWriterWriteError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	w := NewXMLWriter(&failWriter{n: 10, err: boom})
	rec := &Record{Fields: []Field{{Tag: "500", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', strings.Repeat("x", 1000)}}}}}
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = w.Write(rec)
	}
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, w.Write(rec), boom, "the error is sticky")
	require.ErrorIs(t, w.Flush(), boom)
	require.ErrorIs(t, w.Close(), boom)
}

// TestXMLRoundTrip reads each shared MARCXML file, writes it and reads it back:
// the records must come back equal.
func TestXMLRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"evergreen/concerto_authorities.xml", "evergreen/concerto_bibs.xml", "evergreen/serials_marc21.xml",
		"marc4j/chabon.xml", "marc4j/summerland.xml", "pymarc/batch.xml", "pymarc/bad_tag.xml",
		"marc4j/chabon-missing-subfield-code.xml", "marc4j/cruel-cruel-indicatorless-summerland.xml",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(sharedMARCFile(t, name))
			require.NoError(t, err)
			recs, errs := readAllXML(t, bytes.NewReader(data), nil)
			require.Empty(t, errs)
			var buf bytes.Buffer
			w := NewXMLWriter(&buf)
			for _, r := range recs {
				require.NoError(t, w.Write(r))
			}
			require.NoError(t, w.Close())
			requireWellFormed(t, buf.Bytes())
			back, errs := readAllXML(t, &buf, nil)
			require.Empty(t, errs)
			require.Len(t, back, len(recs))
			for i := range recs {
				// Warnings about the input do not come back, except for the bad tag,
				// which is written as it is.
				recs[i].Warnings, back[i].Warnings = nil, nil
				require.Equal(t, recs[i], back[i])
			}
		})
	}
}
