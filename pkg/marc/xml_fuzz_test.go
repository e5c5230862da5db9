package marc

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzXMLReader feeds arbitrary documents to the MARCXML reader. It must not
// panic, must end (each Read consumes input or returns io.EOF), must return only
// *Error or io.EOF, must return records with MARC 21's leader structure, and
// every record it returns must survive XMLWriter and XMLReader unchanged, with no
// warning about a field that had none.
//
// The corpus is seeded with every shared MARCXML test file that is present, each
// cut after the record that ends past 8 KB: the fuzzer minimises every new
// interesting input for up to a minute, and mutations of a 250 KB file make it
// spend its whole time doing that.
func FuzzXMLReader(f *testing.F) {
	for _, name := range []string{
		"evergreen/concerto_authorities.xml", "evergreen/concerto_bibs.xml", "evergreen/serials_marc21.xml",
		"marc4j/chabon.xml", "marc4j/summerland.xml", "marc4j/chabon-missing-subfield-code.xml",
		"marc4j/cruel-cruel-indicatorless-summerland.xml", "pymarc/batch.xml", "pymarc/bad_tag.xml",
	} {
		for _, dir := range []string{"testdata", sharedMARCDir()} {
			if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(xmlSeed(data))
				break
			}
		}
	}
	f.Add([]byte(oneRecord))
	f.Add([]byte(`<collection>` + oneRecord + `<record><leader>x</leader>&bad;</record>` + oneRecord + `</collection>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><m:record xmlns:m="http://www.loc.gov/MARC21/slim"><m:datafield tag="2"><m:subfield>` + "\xe9" + `</m:subfield></m:datafield></m:record>`))
	f.Add([]byte(`<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><record><metadata><record xmlns="info:lc/xmlns/marcxchange-v2"><leader/></record></metadata></record></OAI-PMH>`))
	f.Add([]byte(`<record><record><controlfield tag="001">a</controlfield></record>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewXMLReader(bytes.NewReader(data), nil)
		var recs []*Record
		for calls := 0; ; calls++ {
			if calls > len(data)+2 {
				t.Fatalf("%d calls to Read on %d bytes: the reader does not end", calls, len(data))
			}
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error is not an *Error: %v", err)
				}
				if rec != nil {
					t.Fatalf("record with an error")
				}
				continue
			}
			if string(rec.Leader[9:12]) != "a22" || string(rec.Leader[20:]) != "4500" {
				t.Fatalf("leader %q", rec.Leader[:])
			}
			for _, w := range rec.Warnings {
				var e *Error
				if !errors.As(w, &e) {
					t.Fatalf("warning is not an *Error: %v", w)
				}
			}
			recs = append(recs, rec)
		}
		if len(recs) == 0 {
			return
		}

		var buf bytes.Buffer
		w := NewXMLWriter(&buf)
		for _, rec := range recs {
			if err := w.Write(rec); err != nil {
				t.Fatalf("writing a record the reader returned: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		back := NewXMLReader(&buf, nil)
		for i, want := range recs {
			got, err := back.Read()
			if err != nil {
				t.Fatalf("record %d does not read back: %v\n%s", i+1, err, buf.Bytes())
			}
			// What the writer keeps as it is (a bad tag, say) is warned about
			// again, but nothing new.
			warned := map[string]bool{}
			for _, w := range want.Warnings {
				warned[w.(*Error).Tag] = true
			}
			if len(want.Warnings) > xmlMaxWarnings {
				continue // some were not reported
			}
			for _, w := range got.Warnings {
				if !warned[w.(*Error).Tag] {
					t.Fatalf("record %d reads back with a new warning: %v (had %v)\n%s", i+1, w, want.Warnings, buf.Bytes())
				}
			}
			if d := fuzzRecordDiff(want, got); d != "" {
				t.Fatalf("record %d changes when written and read back: %s\n%s", i+1, d, buf.Bytes())
			}
		}
		if _, err := back.Read(); !errors.Is(err, io.EOF) {
			t.Fatalf("more records read back than written: %v", err)
		}
	})
}

// xmlSeed cuts a document after the first record end tag past 8 KB (the root
// is left unclosed, which the reader takes as the end of the input).
func xmlSeed(data []byte) []byte {
	const keep = 8 << 10
	if len(data) <= keep {
		return data
	}
	if i := bytes.Index(data[keep:], []byte("record>")); i >= 0 {
		return data[:keep+i+len("record>")]
	}
	return data
}

// fuzzRecordDiff compares two records the way MARCXML can tell them apart: a
// field with neither value nor subfields is the same whatever its indicators (a
// control field with an empty value and an empty data field).
func fuzzRecordDiff(a, b *Record) string {
	if a.Leader != b.Leader {
		return "leader " + string(a.Leader[:]) + " vs " + string(b.Leader[:])
	}
	if len(a.Fields) != len(b.Fields) {
		return "number of fields"
	}
	for i := range a.Fields {
		fa, fb := a.Fields[i], b.Fields[i]
		if fa.Value == "" && fb.Value == "" && len(fa.Subfields) == 0 && len(fb.Subfields) == 0 {
			fa.Ind1, fa.Ind2, fb.Ind1, fb.Ind2 = 0, 0, 0, 0
		}
		if fa.Tag != fb.Tag || fa.Value != fb.Value || fa.Ind1 != fb.Ind1 || fa.Ind2 != fb.Ind2 || len(fa.Subfields) != len(fb.Subfields) {
			return "field " + fa.Tag
		}
		for j := range fa.Subfields {
			if fa.Subfields[j] != fb.Subfields[j] {
				return "subfield of " + fa.Tag
			}
		}
	}
	return ""
}

// FuzzXMLScanner compares the MARCXML reader's tokenizer with encoding/xml's
// RawToken (strict): on a document encoding/xml reads to the end, the scanner
// must give the same start tags (names and attribute values), end tags and
// text, and end too; on a document encoding/xml rejects, the scanner must give
// the same tokens up to where either stops, and reject it too. Comments,
// processing instructions and directives, which the scanner skips, are left
// out, and adjacent text is joined. Names with non-ASCII characters are checked
// with Unicode's categories rather than XML 1.0's tables, so a disagreement
// about one is not a failure.
func FuzzXMLScanner(f *testing.F) {
	for _, name := range []string{"marc4j/chabon.xml", "pymarc/bad_tag.xml", "pymarc/batch.xml", "evergreen/serials_marc21.xml"} {
		for _, dir := range []string{"testdata", sharedMARCDir()} {
			if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(xmlSeed(data))
				break
			}
		}
	}
	for _, s := range []string{
		oneRecord,
		`<?xml version="1.0" encoding="ISO-8859-1"?><a b='` + "\xe9" + `'>` + "\xe0\r\n\r" + `</a>`,
		`<!DOCTYPE x [<!ENTITY a "b"> <!-- c > --> <!ELEMENT x (#PCDATA)>]><x a="&lt;&#x41;&#66;&quot;&apos;&amp;&gt;"/>`,
		`<a><![CDATA[x]]]><![CDATA[<&>]]>y&#xD800;z</a>`,
		`<a:b:c/>`, `<:a/>`, `<a: x:="1" :y="2"/>`, `<a></b></a >`, `<?pi ?? ?><!---->`, `]]>`, `<a b="x]]>y"/>`,
		"<a>\x00</a>", "<a>\xff</a>", "<a>&#0;</a>", "<a>&#x110000;</a>", "<a>&bad;</a>", "<a>&lt</a>", "<a b=c/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := encodingXMLTokens(data)
		got, gotErr := scannerTokens(data)
		if (wantErr != nil && strings.Contains(wantErr.Error(), "invalid XML name")) ||
			(gotErr != nil && strings.Contains(gotErr.Error(), "invalid XML name")) {
			if bytes.ContainsFunc(data, func(r rune) bool { return r >= utf8.RuneSelf }) {
				t.Skip("non-ASCII name")
			}
		}
		n := min(len(want), len(got))
		for i := range n {
			if want[i] != got[i] {
				t.Fatalf("token %d: encoding/xml %q, scanner %q (encoding/xml err %v, scanner err %v)", i, want[i], got[i], wantErr, gotErr)
			}
		}
		switch {
		case wantErr == nil && gotErr != nil:
			t.Fatalf("encoding/xml reads the document, the scanner fails: %v (after %d tokens)", gotErr, len(got))
		case wantErr != nil && gotErr == nil:
			t.Fatalf("encoding/xml fails (%v), the scanner reads the document", wantErr)
		case wantErr == nil && len(want) != len(got):
			t.Fatalf("encoding/xml gives %d tokens, the scanner %d", len(want), len(got))
		}
	})
}

// encodingXMLTokens tokenizes data with encoding/xml, as FuzzXMLScanner
// compares them. The declared encoding ISO-8859-1 is widened as the scanner
// does; any other is read as it is.
func encodingXMLTokens(data []byte) ([]string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(strings.TrimSpace(label)) {
		case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
			return &latin1Reader{r: bufio.NewReader(in)}, nil
		}
		return in, nil
	}
	var toks []string
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return joinText(toks), nil
		}
		if err != nil {
			return joinText(toks), err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s := "<" + t.Name.Space + "|" + t.Name.Local
			for _, a := range t.Attr {
				s += " " + a.Name.Space + "|" + a.Name.Local + "=" + strconv.Quote(a.Value)
			}
			toks = append(toks, s)
		case xml.EndElement:
			toks = append(toks, "</"+t.Name.Space+"|"+t.Name.Local)
		case xml.CharData:
			toks = append(toks, "T"+string(t))
		}
	}
}

func scannerTokens(data []byte) ([]string, error) {
	s := newXMLScanner(bytes.NewReader(data))
	s.buf = make([]byte, 16) // small, to exercise refills and growth
	var toks []string
	for {
		err := s.next()
		if err == io.EOF {
			return joinText(toks), nil
		}
		if err != nil {
			return joinText(toks), err
		}
		switch s.kind {
		case xmlTokStart:
			t := "<" + string(s.prefix) + "|" + string(s.local)
			for i := range s.attrs {
				a := &s.attrs[i]
				t += " " + string(a.prefix) + "|" + string(a.local) + "=" + strconv.Quote(string(s.value(a)))
			}
			toks = append(toks, t)
		case xmlTokEnd:
			toks = append(toks, "</"+string(s.prefix)+"|"+string(s.local))
		case xmlTokText:
			toks = append(toks, "T"+string(s.text))
		}
	}
}

// joinText joins adjacent text tokens and drops empty ones.
func joinText(toks []string) []string {
	var out []string
	for _, t := range toks {
		if t == "T" {
			continue
		}
		if t[0] == 'T' && len(out) > 0 && out[len(out)-1][0] == 'T' {
			out[len(out)-1] += t[1:]
			continue
		}
		out = append(out, t)
	}
	return out
}

// latin1Reader widens ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r  *bufio.Reader
	hi int // the pending second byte of a widened character, or 0
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if l.hi != 0 {
			p[n] = byte(l.hi)
			l.hi = 0
			n++
			continue
		}
		c, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c < 0x80 {
			p[n] = c
		} else {
			p[n] = 0xC0 | c>>6
			l.hi = int(0x80 | c&0x3F)
		}
		n++
	}
	return n, nil
}
