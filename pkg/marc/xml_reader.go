package marc

import (
	"bytes"
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
// lengths included, are as read (an XML leader's lengths mean nothing). The
// values of a record are substrings of one string per record: keeping any of
// them keeps the whole record's text in memory.
//
// Documents in UTF-8 (or US-ASCII) and ISO-8859-1 are read; a document that
// declares another encoding is read as UTF-8, with a warning.
type XMLReader struct {
	s       *xmlScanner
	strict  bool
	ordinal int
	depth   int  // element depth
	roots   int  // top-level elements seen (-1 once a resync makes depth unknown)
	done    bool // io.EOF or a read error has been returned
	resume  bool // a record start tag has been read but not yet its record

	ns      []xmlNSBinding // in-scope prefix declarations, innermost last
	pending []*Error       // document-level warnings for the next record

	// Per-record state, reused.
	start  int64  // input offset of the current record's start tag
	field  string // tag of the field being read, for an error in it
	warns  []*Error
	drop   int
	text   []byte // the record's values, one after the other
	fields []xmlFieldSpan
	subs   []xmlSubSpan
	leader []byte
}

// xmlFieldSpan is a field whose values are in XMLReader.text.
type xmlFieldSpan struct {
	tag        string
	control    bool
	ind1, ind2 byte
	v0, v1     int // a control field's value
	s0, s1     int // a data field's subfields in XMLReader.subs
}

type xmlSubSpan struct {
	code   byte
	v0, v1 int
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
	xr := &XMLReader{s: newXMLScanner(r)}
	if opts != nil {
		xr.strict = opts.Strict
	}
	xr.s.onEncoding = func(label string) {
		xr.pending = append(xr.pending, &Error{Err: ErrEncoding,
			Msg: fmt.Sprintf("the document declares encoding %q; read as UTF-8", label)})
	}
	return xr
}

// Read returns the next record. It returns (rec, nil) for a good or recovered
// record (a recovered one carries Warnings, each an *Error); (nil, *Error) for a
// record that cannot be recovered (XML that is not well-formed, or a document that
// ends inside it), after which the next call goes on with the next record; (nil,
// *Error) with Ordinal 0 for XML that is not well-formed outside any record; (nil,
// io.EOF) at the end of the input; and (nil, err) for an error from the
// underlying reader.
func (r *XMLReader) Read() (*Record, error) {
	for !r.done {
		if r.resume {
			r.resume = false
			return r.record()
		}
		if err := r.next(); err != nil {
			return nil, r.fail(err, false)
		}
		s := r.s
		if s.kind != xmlTokStart || string(s.local) != "record" || !r.isMARC(s.prefix) {
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

// errXMLNested is a record start tag inside a record.
type errXMLNested struct{ at int64 }

func (e errXMLNested) Error() string {
	return fmt.Sprintf("the record is not closed: another record starts at byte %d", e.at)
}

// fail turns an error from the scanner or the input into what Read returns.
// inRecord says whether it happened inside a record (which it then reports).
func (r *XMLReader) fail(err error, inRecord bool) error {
	if err == io.EOF {
		r.done = true
		return io.EOF
	}
	var syn *xmlSyntaxError
	isSyntax := errors.As(err, &syn)
	if !isSyntax && err != errXMLEOF && !errors.As(err, new(errXMLNested)) && r.s.rerr != nil && r.s.rerr != io.EOF {
		r.done = true
		return err // from the input
	}
	if isSyntax && syn.msg == "unexpected EOF" && inRecord {
		err, isSyntax = errXMLEOF, false
	}
	msg := err.Error()
	if isSyntax {
		msg = fmt.Sprintf("XML is not well-formed near byte %d: %s", syn.at, syn.msg)
	}
	e := &Error{Msg: msg, Err: ErrMalformed}
	if inRecord {
		e.Ordinal = r.ordinal
		e.Offset = r.start
		e.ID = r.controlNumber()
		e.Tag = r.field
	} else {
		// Not in any record: Ordinal 0.
		e.Offset = r.s.off
		if isSyntax {
			e.Offset = syn.at
		}
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
	if !r.s.skipToRecord() {
		r.done = true
		if r.s.rerr != nil && r.s.rerr != io.EOF {
			return r.s.rerr
		}
	}
	r.depth, r.roots = 0, -1
	r.ns = r.ns[:0]
	return e
}

// next scans the next token, keeping track of depth and namespace declarations.
func (r *XMLReader) next() error {
	s := r.s
	if err := s.next(); err != nil {
		return err
	}
	switch s.kind {
	case xmlTokStart:
		r.depth++
		if r.depth == 1 && r.roots >= 0 {
			r.roots++
			if r.roots == 2 {
				r.pending = append(r.pending, &Error{Msg: "the document has more than one top-level element " +
					"(a series of fragments, not well-formed XML); every record is read"})
			}
		}
		for i := range s.attrs {
			a := &s.attrs[i]
			switch {
			case string(a.prefix) == "xmlns":
				r.ns = append(r.ns, xmlNSBinding{prefix: string(a.local), uri: string(s.value(a)), depth: r.depth})
			case len(a.prefix) == 0 && string(a.local) == "xmlns":
				r.ns = append(r.ns, xmlNSBinding{uri: string(s.value(a)), depth: r.depth})
			}
		}
	case xmlTokEnd:
		for len(r.ns) > 0 && r.ns[len(r.ns)-1].depth >= r.depth {
			r.ns = r.ns[:len(r.ns)-1]
		}
		r.depth--
	}
	return nil
}

// isMARC reports whether a record element with this namespace prefix is a MARC
// record: its namespace is MARC 21 slim (or looks like it, or is MarcXchange), or
// it has none, or its prefix is not declared. Any other namespace (OAI-PMH, SRU)
// makes it a wrapper.
func (r *XMLReader) isMARC(prefix []byte) bool {
	uri := ""
	for i := len(r.ns) - 1; i >= 0; i-- {
		if r.ns[i].prefix == string(prefix) {
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
	r.start = r.s.off // for a resumed record, the nested start tag's offset
	r.warns = r.warns[:0]
	r.drop = 0
	for _, w := range r.pending {
		w.Ordinal, w.Offset = r.ordinal, r.start
		r.warns = append(r.warns, w)
	}
	clear(r.pending)
	r.pending = r.pending[:0]
	r.text = r.text[:0]
	r.fields = r.fields[:0]
	r.subs = r.subs[:0]
	r.leader = r.leader[:0]
	r.field = ""
	leaders := 0
	s := r.s
	if s.closeNext { // <record/>
		if err := r.next(); err != nil {
			return nil, err
		}
		r.finishLeader(false)
		return r.finish()
	}
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return nil, errXMLEOF
			}
			return nil, err
		}
		switch s.kind {
		case xmlTokStart:
			switch string(s.local) {
			case "leader":
				leaders++
				if leaders > 1 {
					r.warnf("", nil, "more than one leader; the first is kept")
					if err := r.skip(); err != nil {
						return nil, err
					}
					continue
				}
				v0 := len(r.text)
				if err := r.readText("leader", ""); err != nil {
					return nil, err
				}
				r.leader = append(r.leader, r.text[v0:]...)
				r.text = r.text[:v0]
			case "controlfield":
				tag := r.tagAttr("controlfield")
				r.field = tag
				v0 := len(r.text)
				if err := r.readText("controlfield", tag); err != nil {
					return nil, err
				}
				r.field = ""
				if !(len(tag) == 3 && tag[0] == '0' && tag[1] == '0') {
					r.warnf(tag, nil, "control field with tag %q, which is not a control field tag (00X)", tag)
				}
				r.fields = append(r.fields, xmlFieldSpan{tag: tag, control: true, v0: v0, v1: len(r.text)})
			case "datafield":
				if err := r.readDatafield(); err != nil {
					return nil, err
				}
			case "record":
				// A record start tag inside a record: the enclosing one was not
				// closed. Report it; the reader goes on with the new one.
				return nil, errXMLNested{at: s.off}
			default:
				r.warnf("", nil, "unexpected element <%s> in the record; ignored", xmlQName(s.prefix, s.local))
				if err := r.skip(); err != nil {
					return nil, err
				}
			}
		case xmlTokEnd:
			if string(s.local) != "record" {
				return nil, r.mismatch("record")
			}
			r.finishLeader(leaders > 0)
			return r.finish()
		case xmlTokText:
			if !isXMLSpace(s.text) {
				r.warnf("", nil, "text %q outside any field; ignored", xmlClip(s.text))
			}
		}
	}
}

// mismatch is the error for an end tag that is not elem's.
func (r *XMLReader) mismatch(elem string) error {
	return &xmlSyntaxError{at: r.s.off, msg: fmt.Sprintf("element <%s> closed by </%s>", elem, xmlQName(r.s.prefix, r.s.local))}
}

// controlNumber is the current record's first 001, or "".
func (r *XMLReader) controlNumber() string {
	for _, f := range r.fields {
		if f.control && f.tag == "001" {
			return string(r.text[f.v0:f.v1])
		}
	}
	return ""
}

// finish builds the record from the spans: one string for its text, one slice
// of fields, one of subfields.
func (r *XMLReader) finish() (*Record, error) {
	rec := &Record{}
	copy(rec.Leader[:], r.leader)
	text := string(r.text)
	if len(r.fields) > 0 {
		rec.Fields = make([]Field, len(r.fields))
	}
	var subs []Subfield
	if len(r.subs) > 0 {
		subs = make([]Subfield, len(r.subs))
		for i, sp := range r.subs {
			subs[i] = Subfield{Code: sp.code, Value: text[sp.v0:sp.v1]}
		}
	}
	for i := range r.fields {
		sp := &r.fields[i]
		f := &rec.Fields[i]
		f.Tag = sp.tag
		if sp.control {
			f.Value = text[sp.v0:sp.v1]
			continue
		}
		f.Ind1, f.Ind2 = sp.ind1, sp.ind2
		if sp.s1 > sp.s0 {
			f.Subfields = subs[sp.s0:sp.s1:sp.s1]
		}
	}
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
	clear(r.warns)
	if r.strict {
		for _, w := range rec.Warnings {
			if errors.Is(w, ErrEncoding) {
				return nil, w
			}
		}
	}
	return rec, nil
}

// finishLeader fixes the text of the record's leader element (in r.leader) up
// into a 24-byte leader.
func (r *XMLReader) finishLeader(present bool) {
	if !present {
		r.warnf("", nil, "record has no leader; one with blank positions was made")
		r.leader = append(r.leader[:0], "00000    a2200000   4500"...)
		return
	}
	s := r.leader
	// Pretty-printers may put white space around the leader, but blanks are
	// data: trim only what makes the length right.
	if len(s) != leaderLen {
		if t := bytes.Trim(s, "\r\n\t"); len(t) == leaderLen {
			s = t
		} else if t := bytes.TrimSpace(s); len(t) == leaderLen {
			s = t
		} else {
			s = bytes.Trim(s, "\r\n\t")
			if len(s) < leaderLen {
				r.warnf("", nil, "leader %q is %d characters, not 24; padded with blanks", s, len(s))
			} else {
				r.warnf("", nil, "leader %q is %d characters, not 24; cut to 24", s, len(s))
			}
		}
	}
	var l Leader
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
	r.leader = append(r.leader[:0], l[:]...)
}

// tagAttr returns the current start tag's tag attribute, warning when it is
// missing or is not three letters or digits. Characters that are not printable
// ASCII become '?'.
func (r *XMLReader) tagAttr(elem string) string {
	v, ok := r.s.attr("tag")
	if !ok {
		r.warnf("", nil, "<%s> without a tag attribute; tag left empty", elem)
		return ""
	}
	if len(v) == 3 && isDigit(v[0]) && isDigit(v[1]) && isDigit(v[2]) {
		n := int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
		return tagDigits[3*n : 3*n+3]
	}
	tag := string(v)
	if len(v) == 3 && isAlnum(v[0]) && isAlnum(v[1]) && isAlnum(v[2]) {
		return tag
	}
	clean := xmlPrintable(tag)
	r.warnf(clean, nil, "tag %q is not three letters or digits", tag)
	return clean
}

// readDatafield reads a datafield element whose start tag is the current token.
func (r *XMLReader) readDatafield() error {
	s := r.s
	tag := r.tagAttr("datafield")
	r.field = tag
	if len(tag) == 3 && tag[0] == '0' && tag[1] == '0' {
		r.warnf(tag, nil, "data field with tag %q, which is a control field tag", tag)
	}
	f := xmlFieldSpan{tag: tag, s0: len(r.subs)}
	f.ind1 = r.indicator("ind1", tag)
	f.ind2 = r.indicator("ind2", tag)
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return errXMLEOF
			}
			return err
		}
		switch s.kind {
		case xmlTokStart:
			if string(s.local) != "subfield" {
				r.warnf(tag, nil, "unexpected element <%s> in a data field; ignored", xmlQName(s.prefix, s.local))
				if err := r.skip(); err != nil {
					return err
				}
				continue
			}
			code := r.code(tag)
			v0 := len(r.text)
			if err := r.readText("subfield", tag); err != nil {
				return err
			}
			r.subs = append(r.subs, xmlSubSpan{code: code, v0: v0, v1: len(r.text)})
		case xmlTokEnd:
			if string(s.local) != "datafield" {
				return r.mismatch("datafield")
			}
			f.s1 = len(r.subs)
			if f.s1 == f.s0 {
				r.warnf(tag, nil, "data field has no subfields")
			}
			r.fields = append(r.fields, f)
			r.field = ""
			return nil
		case xmlTokText:
			if !isXMLSpace(s.text) {
				r.warnf(tag, nil, "text %q outside any subfield; ignored", xmlClip(s.text))
			}
		}
	}
}

// indicator returns the value of the indicator attribute name (ind1 or ind2).
func (r *XMLReader) indicator(name, tag string) byte {
	v, ok := r.s.attr(name)
	switch {
	case !ok:
		r.warnf(tag, nil, "no %s attribute; set to blank", name)
		return ' '
	case len(v) == 1 && v[0] >= 0x20 && v[0] <= 0x7E:
		return v[0]
	case len(v) == 0:
		r.warnf(tag, nil, "%s is empty; set to blank", name)
		return ' '
	}
	c, _ := utf8.DecodeRune(v)
	if c < 0x20 || c > 0x7E {
		r.warnf(tag, nil, "%s %q is not a printable ASCII character; set to blank", name, v)
		return ' '
	}
	r.warnf(tag, nil, "%s %q is more than one character; the first is kept", name, v)
	return byte(c)
}

// code returns the value of the current subfield's code attribute.
func (r *XMLReader) code(tag string) byte {
	v, ok := r.s.attr("code")
	switch {
	case !ok:
		r.warnf(tag, nil, "subfield without a code attribute; code set to '?'")
		return '?'
	case len(v) == 1 && v[0] > 0x20 && v[0] <= 0x7E:
		return v[0]
	case len(v) == 0:
		r.warnf(tag, nil, "subfield with an empty code; code set to '?'")
		return '?'
	}
	c, _ := utf8.DecodeRune(v)
	if c <= 0x20 || c > 0x7E {
		r.warnf(tag, nil, "subfield code %q is not a printable ASCII character; replaced with '?'", v)
		return '?'
	}
	r.warnf(tag, nil, "subfield code %q is more than one character; the first is kept", v)
	return byte(c)
}

// readText appends the text content of the element whose start tag is the
// current token to r.text, up to its end tag. Text in nested elements is kept,
// with a warning.
func (r *XMLReader) readText(elem, tag string) error {
	s := r.s
	nested := 0
	warned := false
	for {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return errXMLEOF
			}
			return err
		}
		switch s.kind {
		case xmlTokText:
			r.text = append(r.text, s.text...)
		case xmlTokStart:
			nested++
			if !warned {
				r.warnf(tag, nil, "element <%s> inside <%s>; its text is kept", xmlQName(s.prefix, s.local), elem)
				warned = true
			}
		case xmlTokEnd:
			if nested > 0 {
				nested--
				continue
			}
			if string(s.local) != elem {
				return r.mismatch(elem)
			}
			return nil
		}
	}
}

// skip consumes the element whose start tag is the current token.
func (r *XMLReader) skip() error {
	for depth := 1; depth > 0; {
		if err := r.next(); err != nil {
			if err == io.EOF {
				return errXMLEOF
			}
			return err
		}
		switch r.s.kind {
		case xmlTokStart:
			depth++
		case xmlTokEnd:
			depth--
		}
	}
	return nil
}

func xmlQName(prefix, local []byte) string {
	if len(prefix) == 0 {
		return string(local)
	}
	return string(prefix) + ":" + string(local)
}

func isXMLSpace(b []byte) bool {
	for _, c := range b {
		if !isXMLSpaceByte(c) {
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
