package marc

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// XMLWriter writes records as a MARCXML document: a MARC 21 slim collection
// (namespace http://www.loc.gov/MARC21/slim) in UTF-8, one record element per
// Write, in yaz-marcdump's layout. Close writes the end of the collection.
//
// Every record is written as UTF-8 and its leader says so (leader/09 'a'); the
// other leader positions are written as they are, except that bytes that are not
// printable ASCII become blanks. A field is written as a controlfield when its tag
// is 00X, unless it has subfields and no value; any other field is written as a
// datafield, unless it has a value and no subfields. An indicator that was never
// set (zero) is written as a blank.
//
// XML 1.0 cannot hold every character a MARC record can: the C0 control
// characters other than tab, line feed and carriage return (ESC left over from
// MARC-8, for one), U+FFFE, U+FFFF, and bytes that are not UTF-8. In values they
// are each written as U+FFFD (the replacement character), so that the document is
// always well-formed; a carriage return is written as &#13; and a tab or line feed
// in an attribute as &#9; or &#10;, so that an XML parser gives them back.
// Indicators and subfield codes that XML cannot hold make Write fail with an
// *Error wrapping ErrInvalidField, and nothing of that record is written.
//
// The writer buffers its output: call Close (or Flush) when done.
type XMLWriter struct {
	w       io.Writer
	buf     []byte
	err     error // sticky: the first error from w
	started bool
	closed  bool
	n       int // records written
}

const (
	xmlHeader     = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<collection xmlns=\"" + marcxmlNamespace + "\">\n"
	xmlFooter     = "</collection>\n"
	xmlFlushAfter = 64 << 10
)

// NewXMLWriter returns a writer of a MARCXML collection to w.
func NewXMLWriter(w io.Writer) *XMLWriter {
	return &XMLWriter{w: w, buf: make([]byte, 0, xmlFlushAfter+8<<10)}
}

// errXMLWriterClosed is what Write returns after Close.
var errXMLWriterClosed = errors.New("marc: write to a closed XMLWriter")

// Write writes one record. The XML declaration and the collection start tag go
// before the first one.
func (w *XMLWriter) Write(rec *Record) error {
	if w.closed {
		return errXMLWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	w.n++
	if err := w.check(rec); err != nil {
		return err
	}
	if !w.started {
		w.buf = append(w.buf, xmlHeader...)
		w.started = true
	}
	w.buf = appendXMLRecord(w.buf, rec)
	if len(w.buf) >= xmlFlushAfter {
		return w.flush()
	}
	return nil
}

// check rejects the indicators and subfield codes XML cannot hold.
func (w *XMLWriter) check(rec *Record) error {
	for i := range rec.Fields {
		f := &rec.Fields[i]
		if xmlControlShape(f) {
			continue
		}
		for _, c := range [2]byte{f.Ind1, f.Ind2} {
			if c != 0 && !xmlByteOK(c) {
				return w.invalid(rec, f.Tag, fmt.Sprintf("indicator byte 0x%02X cannot be written in XML", c))
			}
		}
		for _, s := range f.Subfields {
			if !xmlByteOK(s.Code) {
				return w.invalid(rec, f.Tag, fmt.Sprintf("subfield code byte 0x%02X cannot be written in XML", s.Code))
			}
		}
	}
	return nil
}

func (w *XMLWriter) invalid(rec *Record, tag, msg string) error {
	return &Error{Ordinal: w.n, ID: rec.ControlNumber(), Tag: tag, Msg: msg, Err: ErrInvalidField}
}

// xmlByteOK reports whether a one-byte indicator or code can be written: ASCII from
// blank to DEL, or tab, line feed or carriage return (escaped).
func xmlByteOK(c byte) bool { return c >= 0x20 && c <= 0x7F || c == '\t' || c == '\n' || c == '\r' }

// Flush writes what is buffered to the underlying writer.
func (w *XMLWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.flush()
}

func (w *XMLWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		w.err = err
	}
	return err
}

// Close ends the collection (writing an empty one if no record was written) and
// flushes. It does not close the underlying writer.
func (w *XMLWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if !w.started {
		w.buf = append(w.buf, xmlHeader...)
		w.started = true
	}
	w.buf = append(w.buf, xmlFooter...)
	return w.flush()
}

// appendXMLRecord appends rec as a MARCXML record element (without namespace
// declaration, for use inside a collection) to dst. It does not check indicators
// and subfield codes (XMLWriter.check does): ones that XML cannot hold are written
// as U+FFFD.
func appendXMLRecord(dst []byte, rec *Record) []byte {
	dst = append(dst, "<record>\n  <leader>"...)
	for i, c := range rec.Leader {
		switch {
		case i == 9:
			c = 'a'
		case c < 0x20 || c > 0x7E:
			c = ' '
		}
		switch c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		default:
			dst = append(dst, c)
		}
	}
	dst = append(dst, "</leader>\n"...)
	for i := range rec.Fields {
		f := &rec.Fields[i]
		if xmlControlShape(f) {
			dst = append(dst, "  <controlfield tag=\""...)
			dst = appendXMLEscaped(dst, f.Tag, true)
			dst = append(dst, "\">"...)
			dst = appendXMLEscaped(dst, f.Value, false)
			dst = append(dst, "</controlfield>\n"...)
			continue
		}
		dst = append(dst, "  <datafield tag=\""...)
		dst = appendXMLEscaped(dst, f.Tag, true)
		dst = append(dst, "\" ind1=\""...)
		dst = appendXMLByte(dst, f.Ind1)
		dst = append(dst, "\" ind2=\""...)
		dst = appendXMLByte(dst, f.Ind2)
		dst = append(dst, "\">\n"...)
		for _, s := range f.Subfields {
			dst = append(dst, "    <subfield code=\""...)
			dst = appendXMLByte(dst, s.Code)
			dst = append(dst, "\">"...)
			dst = appendXMLEscaped(dst, s.Value, false)
			dst = append(dst, "</subfield>\n"...)
		}
		dst = append(dst, "  </datafield>\n"...)
	}
	return append(dst, "</record>\n"...)
}

// xmlControlShape reports whether f is written as a controlfield.
func xmlControlShape(f *Field) bool {
	if f.IsControl() {
		return len(f.Subfields) == 0 || f.Value != ""
	}
	return len(f.Subfields) == 0 && f.Value != ""
}

// appendXMLByte appends an indicator or subfield code as attribute text; zero is
// a blank.
func appendXMLByte(dst []byte, c byte) []byte {
	switch {
	case c == 0:
		return append(dst, ' ')
	case xmlPlain[c]:
		return append(dst, c)
	case c >= 0x80:
		return append(dst, "\uFFFD"...)
	}
	return appendXMLEscaped(dst, string(rune(c)), true)
}

// xmlPlain[c] is true for the bytes that are written as they are, in text and in
// attributes: printable ASCII and DEL, but & < > ".
var xmlPlain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7F; c++ {
		t[c] = true
	}
	t['&'], t['<'], t['>'], t['"'] = false, false, false, false
	return t
}()

// appendXMLEscaped appends s escaped for XML text (attr false) or a double-quoted
// attribute value (attr true). Characters XML 1.0 cannot hold become U+FFFD.
func appendXMLEscaped(dst []byte, s string, attr bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if xmlPlain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && n == 1) || r == 0xFFFE || r == 0xFFFF {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				start = i + n
			}
			i += n
			continue
		}
		var esc string
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			if !attr {
				i++
				continue
			}
			esc = "&quot;"
		case '\t':
			if !attr {
				i++
				continue
			}
			esc = "&#9;"
		case '\n':
			if !attr {
				i++
				continue
			}
			esc = "&#10;"
		case '\r':
			esc = "&#13;"
		default: // C0 control characters
			esc = "\uFFFD"
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		i++
		start = i
	}
	return append(dst, s[start:]...)
}
