package marc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// XMLReaderOptions configure an XMLReader. The zero value is the default: lenient.
type XMLReaderOptions struct {
	// Strict makes encoding problems (a document that declares a character
	// encoding the reader does not know) errors that reject the record instead of
	// warnings. Structural problems are recovered from either way, and XML that is
	// not well-formed is an error either way.
	Strict bool
}

// XMLReader reads MARCXML (MARC 21 slim) records from a stream, one at a time, in
// constant memory: it works token by token and never holds more than one record.
//
// It is lenient:
//   - record elements are found by local name, with or without a namespace
//     prefix, under a collection, under any wrapper (OAI-PMH, SRU), or as a series
//     of top-level fragments with no root element at all. A record element in a
//     namespace that is not MARC's (an OAI-PMH or SRU record) is a wrapper, and
//     the MARC record inside it is read;
//   - a subfield without a code gets code '?', a data field without indicators
//     gets blanks, a bad tag or indicator is kept, a leader that is not 24
//     characters is padded or cut; each of these is a warning on the record;
//   - XML that is not well-formed spoils only the record it is in: the reader
//     reports it as an *Error and resumes at the next <record> start tag.
//
// Like BinaryReader, every record returned says it is UTF-8 and has MARC 21's
// structure: leader/09 is 'a', 10-11 "22" and 20-23 "4500"; the other positions,
// lengths included, are as read (an XML leader's lengths mean nothing).
type XMLReader struct {
	src     *xmlSource
	dec     *xml.Decoder
	base    int64 // input offset of the decoder's first byte
	strict  bool
	ordinal int
	depth   int  // element depth in the current decoder
	done    bool // io.EOF or a read error has been returned
	resume  bool // a record start tag has been read but not yet its record
	roots   int  // top-level elements seen (-1 once a resync makes depth unknown)

	ns      []xmlNSBinding // in-scope prefix declarations, innermost last
	pending []*Error       // document-level warnings for the next record

	// Per-record state, reused.
	rec   *Record
	start int64 // input offset of the current record's start tag
	warns []*Error
	drop  int
	text  []byte
	tok   int64 // input offset of the last token read
}

type xmlNSBinding struct {
	prefix, uri string
	depth       int
}

// The namespace of MARC 21 slim, which XMLWriter writes.
const marcxmlNamespace = "http://www.loc.gov/MARC21/slim"

// xmlMaxWarnings bounds the warnings one record carries; more are summarised.
const xmlMaxWarnings = 50

// NewXMLReader returns a reader of r. opts may be nil for the defaults.
func NewXMLReader(r io.Reader, opts *XMLReaderOptions) *XMLReader {
	xr := &XMLReader{src: newXMLSource(r)}
	if opts != nil {
		xr.strict = opts.Strict
	}
	xr.restart()
	return xr
}

// restart starts a new decoder at the source's current position.
func (r *XMLReader) restart() {
	r.base = r.src.offset()
	r.depth = 0
	r.ns = r.ns[:0]
	d := xml.NewDecoder(r.src)
	d.CharsetReader = r.charsetReader
	r.dec = d
}

// charsetReader accepts the encodings that are UTF-8 or a subset of it, and
// ISO-8859-1; any other declared encoding is read as UTF-8 with a warning.
func (r *XMLReader) charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		r.src.latin1 = true
	default:
		r.pending = append(r.pending, &Error{Err: ErrEncoding,
			Msg: fmt.Sprintf("the document declares encoding %q; read as UTF-8", label)})
	}
	return r.src, nil
}

// Read returns the next record. It returns (rec, nil) for a good or recovered
// record (a recovered one carries Warnings, each an *Error); (nil, *Error) for a
// record that cannot be recovered (XML that is not well-formed, or a document that
// ends inside it), after which the next call goes on with the next record; (nil,
// io.EOF) at the end of the input; and (nil, err) for an error from the underlying
// reader.
func (r *XMLReader) Read() (*Record, error) {
	for !r.done {
		if r.resume {
			r.resume = false
			return r.record()
		}
		tok, err := r.next()
		if err != nil {
			return nil, r.fail(err, false)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "record" || !r.isMARC(se.Name.Space) {
			continue
		}
		return r.record()
	}
	return nil, io.EOF
}

func (r *XMLReader) record() (*Record, error) {
	rec, err := r.readRecord()
	if err != nil {
		if e, ok := err.(*Error); ok {
			return nil, e // rejected in strict mode
		}
		return nil, r.fail(err, true)
	}
	return rec, nil
}

// errXMLEOF is the end of the input inside a record.
var errXMLEOF = errors.New("the document ends inside the record")

// errXMLNested is a record start tag inside a record; r.tok is its offset.
type errXMLNested struct{ at int64 }

func (e errXMLNested) Error() string {
	return fmt.Sprintf("the record is not closed: another record starts at byte %d", e.at)
}

// fail turns an error from the decoder or the source into what Read returns.
// inRecord says whether it happened inside a record (which it then reports).
func (r *XMLReader) fail(err error, inRecord bool) error {
	if err == io.EOF {
		r.done = true
		return io.EOF
	}
	if rerr := r.src.err; rerr != nil && rerr != io.EOF {
		r.done = true
		return rerr
	}
	at := r.base + r.dec.InputOffset()
	if syn, ok := err.(*xml.SyntaxError); ok && syn.Msg == "unexpected EOF" && inRecord {
		err = errXMLEOF
	}
	msg := err.Error()
	if syn, ok := err.(*xml.SyntaxError); ok {
		msg = fmt.Sprintf("XML is not well-formed near byte %d: %s", at, syn.Msg)
	}
	e := &Error{Msg: msg, Err: ErrMalformed}
	if inRecord {
		e.Ordinal = r.ordinal
		e.Offset = r.start
		e.ID = r.rec.ControlNumber()
	} else {
		// Not in any record: Ordinal 0.
		e.Offset = at
		e.Msg += " (outside any record)"
	}
	var nested errXMLNested
	switch {
	case err == errXMLEOF:
		r.done = true
		return e
	case errors.As(err, &nested):
		// The new record's start tag has been read: go on with it.
		r.resume = true
		return e
	}
	// Resume at the next record start tag, if there is one.
	if !r.src.skipToRecord() {
		r.done = true
		if r.src.err != nil && r.src.err != io.EOF {
			return r.src.err
		}
	}
	r.roots = -1
	r.restart()
	return e
}

// next returns the next token, keeping track of depth and namespace
// declarations. It records the token's input offset in r.tok.
func (r *XMLReader) next() (xml.Token, error) {
	r.tok = r.base + r.dec.InputOffset()
	tok, err := r.dec.RawToken()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		r.depth++
		if r.depth == 1 && r.roots >= 0 {
			r.roots++
			if r.roots == 2 {
				r.pending = append(r.pending, &Error{Msg: "the document has more than one top-level element " +
					"(a series of fragments, not well-formed XML); every record is read"})
			}
		}
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "xmlns":
				r.ns = append(r.ns, xmlNSBinding{prefix: a.Name.Local, uri: a.Value, depth: r.depth})
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				r.ns = append(r.ns, xmlNSBinding{uri: a.Value, depth: r.depth})
			}
		}
	case xml.EndElement:
		for len(r.ns) > 0 && r.ns[len(r.ns)-1].depth >= r.depth {
			r.ns = r.ns[:len(r.ns)-1]
		}
		r.depth--
	}
	return tok, nil
}

// isMARC reports whether a record element with this namespace prefix is a MARC
// record: its namespace is MARC 21 slim (or looks like it, or is MarcXchange), or
// it has none, or its prefix is not declared. Any other namespace (OAI-PMH, SRU)
// makes it a wrapper.
func (r *XMLReader) isMARC(prefix string) bool {
	uri := ""
	for i := len(r.ns) - 1; i >= 0; i-- {
		if r.ns[i].prefix == prefix {
			uri = r.ns[i].uri
			break
		}
	}
	if uri == "" || uri == marcxmlNamespace {
		return true
	}
	u := strings.ToLower(uri)
	return strings.Contains(u, "marc21") || strings.Contains(u, "marcxchange")
}

func (r *XMLReader) warnf(tag string, kind error, format string, args ...any) {
	if len(r.warns) >= xmlMaxWarnings {
		r.drop++
		return
	}
	r.warns = append(r.warns, &Error{Ordinal: r.ordinal, Offset: r.start, Tag: tag,
		Msg: fmt.Sprintf(format, args...), Err: kind})
}

// readRecord reads the content of a record element whose start tag has just been
// read.
func (r *XMLReader) readRecord() (*Record, error) {
	r.ordinal++
	r.start = r.tok // for a resumed record, the nested start tag's offset
	r.rec = &Record{}
	clear(r.warns)
	r.warns = r.warns[:0]
	r.drop = 0
	for _, w := range r.pending {
		w.Ordinal, w.Offset = r.ordinal, r.start
		r.warns = append(r.warns, w)
	}
	r.pending = r.pending[:0]

	rec := r.rec
	var leaderText string
	leaders := 0
	// The record's fields, collected here so that one slice of the right size is
	// kept.
	for {
		tok, err := r.next()
		if err != nil {
			if err == io.EOF {
				return nil, errXMLEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "leader":
				s, err := r.readText("leader", "")
				if err != nil {
					return nil, err
				}
				leaders++
				if leaders == 1 {
					leaderText = s
				} else {
					r.warnf("", nil, "more than one leader; the first is kept")
				}
			case "controlfield":
				tag := r.tagAttr(t, "controlfield")
				v, err := r.readText("controlfield", tag)
				if err != nil {
					return nil, err
				}
				if !(len(tag) == 3 && tag[0] == '0' && tag[1] == '0') {
					r.warnf(tag, nil, "control field with tag %q, which is not a control field tag (00X)", tag)
				}
				rec.Fields = append(rec.Fields, Field{Tag: tag, Value: v})
			case "datafield":
				if err := r.readDatafield(t); err != nil {
					return nil, err
				}
			case "record":
				// A record start tag inside a record: the enclosing one was not
				// closed. Report it; the reader goes on with the new one.
				return nil, errXMLNested{at: r.tok}
			default:
				r.warnf("", nil, "unexpected element <%s> in the record; ignored", xmlName(t.Name))
				if err := r.skip(); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			if t.Name.Local != "record" {
				return nil, &xml.SyntaxError{Msg: fmt.Sprintf("element <record> closed by </%s>", xmlName(t.Name))}
			}
			r.finishLeader(leaderText, leaders > 0)
			return r.finish()
		case xml.CharData:
			if !isXMLSpace(t) {
				r.warnf("", nil, "text %q outside any field; ignored", xmlClip(t))
			}
		}
	}
}

// finish attaches the warnings to the record and applies strict mode.
func (r *XMLReader) finish() (*Record, error) {
	rec := r.rec
	if len(r.warns) == 0 {
		return rec, nil
	}
	if r.drop > 0 {
		r.warns = append(r.warns, &Error{Ordinal: r.ordinal, Offset: r.start,
			Msg: fmt.Sprintf("%d more problems not reported", r.drop)})
	}
	id := rec.ControlNumber()
	rec.Warnings = make([]error, len(r.warns))
	for i, w := range r.warns {
		w.ID = id
		rec.Warnings[i] = w
	}
	if r.strict {
		for _, w := range r.warns {
			if w.Err == ErrEncoding {
				return nil, w
			}
		}
	}
	return rec, nil
}

// finishLeader sets the record's leader from the text of its leader element.
func (r *XMLReader) finishLeader(s string, present bool) {
	l := &r.rec.Leader
	if !present {
		r.warnf("", nil, "record has no leader; one with blank positions was made")
		copy(l[:], "00000     2200000   4500")
		l[9] = 'a'
		return
	}
	// Pretty-printers may put white space around the leader, but blanks are
	// data: trim only what makes the length right.
	if len(s) != len(l) {
		if t := strings.Trim(s, "\r\n\t"); len(t) == len(l) {
			s = t
		} else if t := strings.TrimSpace(s); len(t) == len(l) {
			s = t
		} else {
			s = strings.Trim(s, "\r\n\t")
		}
	}
	if len(s) != len(l) {
		if len(s) < len(l) {
			r.warnf("", nil, "leader %q is %d characters, not 24; padded with blanks", s, len(s))
		} else {
			r.warnf("", nil, "leader %q is %d characters, not 24; cut to 24", s, len(s))
		}
	}
	for i := range l {
		l[i] = ' '
	}
	bad := false
	for i := 0; i < len(l) && i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7E {
			c = ' '
			bad = true
		}
		l[i] = c
	}
	if bad {
		r.warnf("", nil, "leader holds characters that are not printable ASCII; replaced with blanks")
	}
	if l[10] != '2' || l[11] != '2' {
		r.warnf("", nil, "leader/10-11 (indicator count, subfield code length) is %q, not \"22\"", l[10:12])
	}
	if l[20] != '4' || l[21] != '5' {
		r.warnf("", nil, "leader/20-21 (length of field length, of start position) is %q, not \"45\"", l[20:22])
	}
	l[9] = 'a'
	copy(l[10:12], "22")
	copy(l[20:24], "4500")
}

// tagAttr returns the element's tag attribute, warning when it is missing or is
// not three letters or digits. Characters that are not printable ASCII become '?'.
func (r *XMLReader) tagAttr(t xml.StartElement, elem string) string {
	tag, ok := xmlAttr(t, "tag")
	if !ok {
		r.warnf("", nil, "<%s> without a tag attribute; tag left empty", elem)
		return ""
	}
	if len(tag) == 3 && isTagChar(tag[0]) && isTagChar(tag[1]) && isTagChar(tag[2]) {
		return tag
	}
	clean := xmlPrintable(tag)
	r.warnf(clean, nil, "tag %q is not three letters or digits", tag)
	return clean
}

func isTagChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// readDatafield reads a datafield element whose start tag is t.
func (r *XMLReader) readDatafield(t xml.StartElement) error {
	tag := r.tagAttr(t, "datafield")
	if len(tag) == 3 && tag[0] == '0' && tag[1] == '0' {
		r.warnf(tag, nil, "data field with tag %q, which is a control field tag", tag)
	}
	f := Field{Tag: tag}
	f.Ind1 = r.indicator(t, "ind1", tag)
	f.Ind2 = r.indicator(t, "ind2", tag)
	for {
		tok, err := r.next()
		if err != nil {
			if err == io.EOF {
				return errXMLEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "subfield" {
				r.warnf(tag, nil, "unexpected element <%s> in a data field; ignored", xmlName(t.Name))
				if err := r.skip(); err != nil {
					return err
				}
				continue
			}
			code := r.code(t, tag)
			v, err := r.readText("subfield", tag)
			if err != nil {
				return err
			}
			f.Subfields = append(f.Subfields, Subfield{Code: code, Value: v})
		case xml.EndElement:
			if t.Name.Local != "datafield" {
				return &xml.SyntaxError{Msg: fmt.Sprintf("element <datafield> closed by </%s>", xmlName(t.Name))}
			}
			if len(f.Subfields) == 0 {
				r.warnf(tag, nil, "data field has no subfields")
			}
			r.rec.Fields = append(r.rec.Fields, f)
			return nil
		case xml.CharData:
			if !isXMLSpace(t) {
				r.warnf(tag, nil, "text %q outside any subfield; ignored", xmlClip(t))
			}
		}
	}
}

// indicator returns the value of the indicator attribute name (ind1 or ind2).
func (r *XMLReader) indicator(t xml.StartElement, name, tag string) byte {
	v, ok := xmlAttr(t, name)
	switch {
	case !ok:
		r.warnf(tag, nil, "no %s attribute; set to blank", name)
		return ' '
	case len(v) == 1 && v[0] >= 0x20 && v[0] <= 0x7E:
		return v[0]
	case v == "":
		r.warnf(tag, nil, "%s is empty; set to blank", name)
		return ' '
	}
	c, _ := utf8.DecodeRuneInString(v)
	if c < 0x20 || c > 0x7E {
		r.warnf(tag, nil, "%s %q is not a printable ASCII character; set to blank", name, v)
		return ' '
	}
	r.warnf(tag, nil, "%s %q is more than one character; the first is kept", name, v)
	return byte(c)
}

// code returns the value of a subfield's code attribute.
func (r *XMLReader) code(t xml.StartElement, tag string) byte {
	v, ok := xmlAttr(t, "code")
	switch {
	case !ok:
		r.warnf(tag, nil, "subfield without a code attribute; code set to '?'")
		return '?'
	case len(v) == 1 && v[0] > 0x20 && v[0] <= 0x7E:
		return v[0]
	case v == "":
		r.warnf(tag, nil, "subfield with an empty code; code set to '?'")
		return '?'
	}
	c, _ := utf8.DecodeRuneInString(v)
	if c <= 0x20 || c > 0x7E {
		r.warnf(tag, nil, "subfield code %q is not a printable ASCII character; replaced with '?'", v)
		return '?'
	}
	r.warnf(tag, nil, "subfield code %q is more than one character; the first is kept", v)
	return byte(c)
}

// readText returns the text content of the element whose start tag has just
// been read, up to its end tag. Text in nested elements is kept, with a warning.
func (r *XMLReader) readText(elem, tag string) (string, error) {
	r.text = r.text[:0]
	nested := 0
	warned := false
	for {
		tok, err := r.next()
		if err != nil {
			if err == io.EOF {
				return "", errXMLEOF
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			r.text = append(r.text, t...)
		case xml.StartElement:
			nested++
			if !warned {
				r.warnf(tag, nil, "element <%s> inside <%s>; its text is kept", xmlName(t.Name), elem)
				warned = true
			}
		case xml.EndElement:
			if nested > 0 {
				nested--
				continue
			}
			if t.Name.Local != elem {
				return "", &xml.SyntaxError{Msg: fmt.Sprintf("element <%s> closed by </%s>", elem, xmlName(t.Name))}
			}
			return string(r.text), nil
		}
	}
}

// skip consumes the element whose start tag has just been read.
func (r *XMLReader) skip() error {
	for depth := 1; depth > 0; {
		tok, err := r.next()
		if err != nil {
			if err == io.EOF {
				return errXMLEOF
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

func xmlAttr(t xml.StartElement, name string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value, true
		}
	}
	return "", false
}

func xmlName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// xmlClip returns the text trimmed and cut short for a message.
func xmlClip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 40 {
		n := 40
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		return string(b[:n]) + "..."
	}
	return string(b)
}

// xmlPrintable returns s with every character that is not printable ASCII
// replaced by '?'.
func xmlPrintable(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// xmlSource is the decoder's input: a buffered reader that counts the bytes it
// hands out (so that offsets survive a restart), can skip ahead to the next record
// start tag after a syntax error, and can widen ISO-8859-1 to UTF-8.
type xmlSource struct {
	r        io.Reader
	buf      []byte
	pos, end int
	consumed int64 // bytes handed out before buf[0]
	err      error
	latin1   bool
	hi       byte // second byte of a widened ISO-8859-1 character, or 0
}

func newXMLSource(r io.Reader) *xmlSource {
	return &xmlSource{r: r, buf: make([]byte, 64<<10)}
}

// offset is the input offset of the next byte ReadByte returns.
func (s *xmlSource) offset() int64 { return s.consumed + int64(s.pos) }

// fill reads more input, keeping buf[pos:end]. It reports whether it got any.
func (s *xmlSource) fill() bool {
	if s.err != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.consumed += int64(s.pos)
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		return false
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// ReadByte implements io.ByteReader, which makes encoding/xml read from the
// source directly instead of through a bufio.Reader of its own.
func (s *xmlSource) ReadByte() (byte, error) {
	if s.hi != 0 {
		c := s.hi
		s.hi = 0
		return c, nil
	}
	if s.pos == s.end && !s.fill() {
		if s.err == nil {
			return 0, io.EOF
		}
		return 0, s.err
	}
	c := s.buf[s.pos]
	s.pos++
	if s.latin1 && c >= 0x80 {
		s.hi = 0x80 | c&0x3F
		return 0xC0 | c>>6, nil
	}
	return c, nil
}

// Read implements io.Reader (encoding/xml only uses ReadByte).
func (s *xmlSource) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := s.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		p[n] = c
		n++
		if s.pos == s.end {
			break
		}
	}
	return n, nil
}

// skipToRecord advances to the next "<record" or "<prefix:record" start tag and
// reports whether it found one.
func (s *xmlSource) skipToRecord() bool {
	s.hi = 0
	const maxTag = 80 // "<", a prefix, ":record", one more byte
	for {
		i := bytes.IndexByte(s.buf[s.pos:s.end], '<')
		if i < 0 {
			s.pos = s.end
			if !s.fill() {
				return false
			}
			continue
		}
		s.pos += i
		if s.end-s.pos < maxTag && s.err == nil {
			s.fill()
		}
		if xmlRecordTagAt(s.buf[s.pos:s.end]) {
			return true
		}
		s.pos++
	}
}

// xmlRecordTagAt reports whether b starts with a record start tag.
func xmlRecordTagAt(b []byte) bool {
	b = b[1:] // '<'
	if i := bytes.IndexByte(b, ':'); i > 0 && i < 64 && bytes.IndexAny(b[:i], " \t\r\n<>/") < 0 {
		b = b[i+1:]
	}
	if !bytes.HasPrefix(b, []byte("record")) {
		return false
	}
	b = b[len("record"):]
	return len(b) > 0 && (b[0] == '>' || b[0] == '/' || b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r')
}
