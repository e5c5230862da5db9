package marc

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// xmlScanner is the XMLReader's tokenizer: encoding/xml's RawToken, strict,
// without its per-byte interface calls and per-token allocations. It scans a
// buffer of its own, returns names and text as slices of it (or of a scratch
// buffer), and accepts and rejects the same documents, with the same messages,
// as encoding/xml (FuzzXMLScanner compares them): text and attribute values are
// checked for XML 1.0 characters and UTF-8 and have their line ends and the five
// predefined and numeric entities decoded; names are checked; comments,
// processing instructions and directives (a DOCTYPE and its internal subset) are
// skipped. Like RawToken it does not match end tags with start tags, which the
// reader does. Measured before it was written: encoding/xml read MARCXML at
// 20 MB/s, a seventh of yaz-marcdump's speed.
type xmlScanner struct {
	r    io.Reader
	buf  []byte
	pos  int   // next byte to scan
	end  int   // end of the data in buf
	base int64 // input offset of buf[0]
	rerr error // from r; io.EOF at the end

	hold       bool               // the current tag is being parsed in place: do not move or refill buf
	latin1     bool               // widen ISO-8859-1 to UTF-8 as it is read
	onEncoding func(label string) // the XML declaration names an encoding that is not UTF-8

	// The current token: valid until the next call to next.
	kind      xmlTokKind
	off       int64 // input offset of its first byte
	prefix    []byte
	local     []byte
	attrs     []xmlAttr
	text      []byte // decoded character data
	closeNext bool   // the start tag was self-closing: its end token comes next

	vals []byte // decoded attribute values
}

type xmlTokKind uint8

const (
	xmlTokEOF xmlTokKind = iota
	xmlTokStart
	xmlTokEnd
	xmlTokText
)

// xmlAttr is an attribute of the current start tag. The value is
// vals[v0:v1] when inVals, buf[v0:v1] otherwise (see value).
type xmlAttr struct {
	prefix, local []byte
	inVals        bool
	v0, v1        int
}

// xmlSyntaxError is what encoding/xml's SyntaxError is to it.
type xmlSyntaxError struct {
	msg string
	at  int64 // input offset
}

func (e *xmlSyntaxError) Error() string { return e.msg }

const (
	xmlScanBuffer = 64 << 10
	xmlMaxToken   = 4 << 20 // longest start tag, comment or directive held in the buffer
)

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{r: r, buf: make([]byte, xmlScanBuffer)}
}

func (s *xmlScanner) errorf(format string, args ...any) error {
	return &xmlSyntaxError{msg: fmt.Sprintf(format, args...), at: s.base + int64(s.pos)}
}

func (s *xmlScanner) eof() error {
	if s.rerr != nil && s.rerr != io.EOF {
		return s.rerr
	}
	return s.errorf("unexpected EOF")
}

// offset is the input offset of the next byte to scan.
func (s *xmlScanner) offset() int64 { return s.base + int64(s.pos) }

// value returns an attribute's value.
func (s *xmlScanner) value(a *xmlAttr) []byte {
	if a.inVals {
		return s.vals[a.v0:a.v1]
	}
	return s.buf[a.v0:a.v1]
}

// attr returns the value of the unprefixed attribute name.
func (s *xmlScanner) attr(name string) ([]byte, bool) {
	for i := range s.attrs {
		a := &s.attrs[i]
		if len(a.prefix) == 0 && string(a.local) == name {
			return s.value(a), true
		}
	}
	return nil, false
}

// fill reads more input into buf, keeping buf[pos:end] (moved to the front, or
// into a bigger buffer when keep says it is all needed and buf is full). It
// reports whether it read anything.
func (s *xmlScanner) fill() bool {
	if s.rerr != nil || s.hold {
		return false
	}
	if s.end == len(s.buf) {
		if s.pos == 0 {
			if len(s.buf) >= xmlMaxToken {
				return false
			}
			nb := make([]byte, 2*len(s.buf))
			copy(nb, s.buf[:s.end])
			s.buf = nb
		} else {
			n := copy(s.buf, s.buf[s.pos:s.end])
			s.base += int64(s.pos)
			s.pos, s.end = 0, n
		}
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		if n > 0 && s.latin1 {
			n = s.widen(s.end, n)
		}
		s.end += n
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// ensure makes buf[pos:pos+n] available and reports whether it could.
func (s *xmlScanner) ensure(n int) bool {
	for s.end-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// widen turns the n ISO-8859-1 bytes at buf[at:] into UTF-8 in place, growing
// buf if needed, and returns their new length.
func (s *xmlScanner) widen(at, n int) int {
	hi := 0
	for _, c := range s.buf[at : at+n] {
		if c >= 0x80 {
			hi++
		}
	}
	if hi == 0 {
		return n
	}
	if at+n+hi > len(s.buf) {
		nb := make([]byte, max(2*len(s.buf), at+n+hi))
		copy(nb, s.buf[:at+n])
		s.buf = nb
	}
	// Backwards, so that nothing is overwritten before it is read.
	w := at + n + hi
	for i := at + n - 1; i >= at; i-- {
		c := s.buf[i]
		if c < 0x80 {
			w--
			s.buf[w] = c
			continue
		}
		w -= 2
		s.buf[w], s.buf[w+1] = 0xC0|c>>6, 0x80|c&0x3F
	}
	return n + hi
}

// startLatin1 widens what is already buffered beyond pos and what is read next.
func (s *xmlScanner) startLatin1() {
	if s.latin1 {
		return
	}
	s.latin1 = true
	n := s.widen(s.pos, s.end-s.pos)
	s.end = s.pos + n
}

// next scans the next token. It returns io.EOF at the end of the input, an
// *xmlSyntaxError for XML that is not well-formed, or an error from the input.
func (s *xmlScanner) next() error {
	if s.closeNext {
		s.closeNext = false
		s.kind = xmlTokEnd
		return nil
	}
	for {
		s.off = s.offset()
		if s.pos == s.end && !s.fill() {
			s.kind = xmlTokEOF
			if s.rerr != nil && s.rerr != io.EOF {
				return s.rerr
			}
			return io.EOF
		}
		if s.buf[s.pos] != '<' {
			s.text = s.text[:0]
			if err := s.scanText(-1); err != nil {
				return err
			}
			s.kind = xmlTokText
			return nil
		}
		if !s.ensure(2) {
			s.pos = s.end
			return s.eof()
		}
		switch s.buf[s.pos+1] {
		case '/':
			return s.scanEnd()
		case '?':
			if err := s.scanProcInst(); err != nil {
				return err
			}
		case '!':
			isText, err := s.scanBang()
			if err != nil || isText {
				return err
			}
		default:
			return s.scanStart()
		}
	}
}

// xmlTextPlain[c] is true for the bytes copied from text as they are: ASCII
// that is neither markup (< & ]) nor a control character other than tab and
// line feed.
var xmlTextPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['<'], t['&'], t[']'] = false, false, false
	t['\t'], t['\n'] = true, true
	return t
}()

// scanText appends decoded character data to s.text, up to '<' (quote < 0) or
// the closing quote of an attribute value (which it consumes).
func (s *xmlScanner) scanText(quote int) error {
	for {
		if s.pos == s.end && !s.fill() {
			if quote >= 0 {
				return s.eof()
			}
			if s.rerr != nil && s.rerr != io.EOF {
				return s.rerr
			}
			return nil // text ends at the end of the input
		}
		b := s.buf[s.pos:s.end]
		i := 0
		for i < len(b) && xmlTextPlain[b[i]] && int(b[i]) != quote {
			i++
		}
		s.text = append(s.text, b[:i]...)
		s.pos += i
		if i == len(b) {
			continue
		}
		c := b[i]
		switch {
		case int(c) == quote:
			s.pos++
			return nil
		case c == '<':
			if quote >= 0 {
				return s.errorf("unescaped < inside quoted string")
			}
			return nil
		case c == '&':
			if err := s.scanEntity(); err != nil {
				return err
			}
		case c == ']':
			if quote < 0 && s.ensure(3) && s.buf[s.pos+1] == ']' && s.buf[s.pos+2] == '>' {
				return s.errorf("unescaped ]]> not in CDATA section")
			}
			s.text = append(s.text, ']')
			s.pos++
		case c == '\r':
			s.text = append(s.text, '\n')
			s.pos++
			if s.ensure(1) && s.buf[s.pos] == '\n' {
				s.pos++
			}
		case c < 0x20:
			return s.errorf("illegal character code %U", rune(c))
		default: // c >= 0x80
			if err := s.scanRune(); err != nil {
				return err
			}
		}
	}
}

// scanRune appends the UTF-8 character at pos, checking it.
func (s *xmlScanner) scanRune() error {
	s.ensure(utf8.UTFMax)
	r, n := utf8.DecodeRune(s.buf[s.pos:s.end])
	if r == utf8.RuneError && n == 1 {
		return s.errorf("invalid UTF-8")
	}
	if !xmlIsChar(r) {
		return s.errorf("illegal character code %U", r)
	}
	s.text = append(s.text, s.buf[s.pos:s.pos+n]...)
	s.pos += n
	return nil
}

func xmlIsChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// scanEntity decodes the entity or character reference at pos ('&').
func (s *xmlScanner) scanEntity() error {
	// Longest accepted: "&#x" and up to 64 digits (leading zeros) and ';'.
	s.ensure(80)
	b := s.buf[s.pos+1 : s.end]
	i := 0
	var r rune
	ok := false
	if i < len(b) && b[i] == '#' {
		i++
		base := 10
		if i < len(b) && b[i] == 'x' {
			base = 16
			i++
		}
		d0 := i
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || base == 16 && (b[i] >= 'a' && b[i] <= 'f' || b[i] >= 'A' && b[i] <= 'F')) {
			i++
		}
		if i < len(b) && b[i] == ';' {
			n, err := strconv.ParseUint(string(b[d0:i]), base, 64)
			if err == nil && n <= unicode.MaxRune {
				r, ok = rune(n), true
			}
		}
	} else {
		for i < len(b) && (b[i] >= utf8.RuneSelf || xmlIsNameByte(b[i])) {
			i++
		}
		if i < len(b) && b[i] == ';' {
			switch string(b[:i]) {
			case "lt":
				r, ok = '<', true
			case "gt":
				r, ok = '>', true
			case "amp":
				r, ok = '&', true
			case "apos":
				r, ok = '\'', true
			case "quot":
				r, ok = '"', true
			}
		}
	}
	if !ok {
		if i >= len(b) && s.rerr != nil {
			s.pos = s.end
			return s.eof()
		}
		ent := "&" + string(b[:i])
		if i < len(b) && b[i] == ';' {
			ent += ";"
		} else {
			ent += " (no semicolon)"
		}
		return s.errorf("invalid character entity %s", ent)
	}
	// encoding/xml turns a reference to a surrogate into U+FFFD, and checks
	// the result like any character.
	if !xmlIsChar(r) && !(r >= 0xD800 && r <= 0xDFFF) {
		return s.errorf("illegal character code %U", r)
	}
	s.text = utf8.AppendRune(s.text, r)
	s.pos += 1 + i + 1
	return nil
}

func xmlIsNameByte(c byte) bool { return xmlNameByte[c] }

// xmlNameByte[c] is true for the ASCII bytes allowed in a name.
var xmlNameByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-'
	}
	return t
}()

// scanName scans a name at buf[i:] (no fill: the caller has the whole tag in the
// buffer) and returns its end, or i when there is none. An invalid name is an
// error.
func (s *xmlScanner) scanName(i, limit int) (int, error) {
	j := i
	ascii := true
	for j < limit {
		c := s.buf[j]
		if c >= utf8.RuneSelf {
			ascii = false
		} else if !xmlNameByte[c] {
			break
		}
		j++
	}
	if j == i {
		return i, nil
	}
	if c := s.buf[i]; ascii && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':') {
		return j, nil
	}
	if !xmlIsName(s.buf[i:j]) {
		return i, s.errorf("invalid XML name: %s", s.buf[i:j])
	}
	return j, nil
}

// xmlIsName checks a name as encoding/xml does, ASCII exactly.
func xmlIsName(b []byte) bool {
	c := b[0]
	if c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':') {
		ascii := true
		for _, c := range b[1:] {
			if c >= utf8.RuneSelf {
				ascii = false
				break
			}
		}
		if ascii {
			return true // scanName took only name bytes
		}
	}
	if c < utf8.RuneSelf {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c == ':') {
			return false
		}
	} else if r, _ := utf8.DecodeRune(b); r == utf8.RuneError || !(unicode.IsLetter(r) || r == '_') {
		return false
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if r >= utf8.RuneSelf && !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) ||
			unicode.Is(unicode.Mc, r) || unicode.Is(unicode.Lm, r) || r == 0xB7) {
			return false
		}
		b = b[n:]
	}
	return true
}

// splitName splits a qualified name as encoding/xml's nsname does; ok is false
// for a name with more than one colon.
func splitName(b []byte) (prefix, local []byte, ok bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return nil, b, true
	}
	if bytes.IndexByte(b[i+1:], ':') >= 0 {
		return nil, nil, false
	}
	if i == 0 || i == len(b)-1 {
		return nil, b, true
	}
	return b[:i], b[i+1:], true
}

func isXMLSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scanEnd scans an end tag at pos.
func (s *xmlScanner) scanEnd() error {
	s.pos += 2 // "</"
	limit, err := s.findGT(false)
	if err != nil {
		return err
	}
	j, err := s.scanName(s.pos, limit)
	if err != nil {
		return err
	}
	prefix, local, ok := splitName(s.buf[s.pos:j])
	if j == s.pos || !ok {
		return s.errorf("expected element name after </")
	}
	k := j
	for k < limit && isXMLSpaceByte(s.buf[k]) {
		k++
	}
	if k != limit {
		s.pos = k
		return s.errorf("invalid characters between </%s and >", local)
	}
	s.prefix, s.local = prefix, local
	s.kind = xmlTokEnd
	s.pos = limit + 1
	return nil
}

// findGT returns the index in buf of the '>' that ends the tag starting at pos,
// filling the buffer as needed; quoted says whether quotes hide '>' (start
// tags), in which case a '<' inside quotes is an error, as in encoding/xml. It
// does not move pos (relative to the data).
func (s *xmlScanner) findGT(quoted bool) (int, error) {
	from := s.pos // where to look from
	for {
		b := s.buf[from:s.end]
		var i int
		if quoted {
			i = bytes.IndexAny(b, "\"'>")
		} else {
			i = bytes.IndexByte(b, '>')
		}
		if i >= 0 && b[i] == '>' {
			return from + i, nil
		}
		if i >= 0 {
			// A quoted value: its closing quote, with no '<' before it.
			q := b[i]
			j := bytes.IndexByte(b[i+1:], q)
			if j >= 0 {
				if k := bytes.IndexByte(b[i+1:i+1+j], '<'); k >= 0 {
					s.pos = from + i + 1 + k
					return 0, s.errorf("unescaped < inside quoted string")
				}
				from += i + 1 + j + 1
				continue
			}
			if k := bytes.IndexByte(b[i+1:], '<'); k >= 0 {
				s.pos = from + i + 1 + k
				return 0, s.errorf("unescaped < inside quoted string")
			}
			// The value goes on past the buffer: read more, and look again
			// from its opening quote.
			from += i
		} else {
			from = s.end
		}
		rel := from - s.pos
		if !s.fill() {
			if len(s.buf) >= xmlMaxToken && s.rerr == nil {
				return 0, s.errorf("tag longer than %d bytes", xmlMaxToken)
			}
			s.pos = s.end
			return 0, s.eof()
		}
		from = s.pos + rel
	}
}

// scanStart scans a start tag at pos.
func (s *xmlScanner) scanStart() error {
	s.pos++ // '<'
	limit, err := s.findGT(true)
	if err != nil {
		return err
	}
	i := s.pos
	j, err := s.scanName(i, limit)
	if err != nil {
		return err
	}
	prefix, local, ok := splitName(s.buf[i:j])
	if j == i || !ok {
		return s.errorf("expected element name after <")
	}
	s.prefix, s.local = prefix, local
	s.attrs = s.attrs[:0]
	s.vals = s.vals[:0]
	s.closeNext = false
	for i = j; ; {
		for i < limit && isXMLSpaceByte(s.buf[i]) {
			i++
		}
		s.pos = i
		if i == limit {
			break
		}
		if s.buf[i] == '/' {
			if i+1 != limit {
				s.pos = i + 1
				return s.errorf("expected /> in element")
			}
			s.closeNext = true
			break
		}
		j, err := s.scanName(i, limit)
		if err != nil {
			return err
		}
		ap, al, ok := splitName(s.buf[i:j])
		if j == i || !ok {
			return s.errorf("expected attribute name in element")
		}
		for j < limit && isXMLSpaceByte(s.buf[j]) {
			j++
		}
		if j == limit || s.buf[j] != '=' {
			s.pos = j
			return s.errorf("attribute name without = in element")
		}
		j++
		for j < limit && isXMLSpaceByte(s.buf[j]) {
			j++
		}
		if j == limit || (s.buf[j] != '"' && s.buf[j] != '\'') {
			s.pos = j
			return s.errorf("unquoted or missing attribute value in element")
		}
		a := xmlAttr{prefix: ap, local: al}
		q := s.buf[j]
		v0 := j + 1
		k := bytes.IndexByte(s.buf[v0:limit], q)
		if k < 0 { // cannot happen: findGT saw the quotes pair up
			s.pos = v0
			return s.errorf("unquoted or missing attribute value in element")
		}
		v1 := v0 + k
		if xmlPlainValue(s.buf[v0:v1]) {
			a.v0, a.v1 = v0, v1
			i = v1 + 1
		} else {
			// Decode into vals, through s.text. The whole tag is in the
			// buffer; hold keeps it there, as the slices point into it.
			s.pos = v0
			s.text = s.text[:0]
			s.hold = true
			err := s.scanText(int(q))
			s.hold = false
			if err != nil {
				return err
			}
			a.inVals, a.v0 = true, len(s.vals)
			s.vals = append(s.vals, s.text...)
			a.v1 = len(s.vals)
			i = s.pos
		}
		s.attrs = append(s.attrs, a)
	}
	s.kind = xmlTokStart
	s.pos = limit + 1
	return nil
}

// xmlPlainValue reports whether an attribute value needs no decoding or checks.
func xmlPlainValue(b []byte) bool {
	for _, c := range b {
		if !xmlTextPlain[c] || c == ']' {
			return false
		}
	}
	return true
}

// scanProcInst skips a processing instruction at pos, acting on an XML
// declaration's version and encoding.
func (s *xmlScanner) scanProcInst() error {
	s.pos += 2 // "<?"
	if !s.ensure(1) {
		return s.eof()
	}
	// The target: scanName needs it whole in the buffer.
	for k := s.pos; ; k++ {
		if k == s.end {
			rel := k - s.pos
			if !s.fill() {
				s.pos = s.end
				return s.eof()
			}
			k = s.pos + rel
		}
		if c := s.buf[k]; c < utf8.RuneSelf && !xmlIsNameByte(c) {
			break
		}
	}
	j, err := s.scanName(s.pos, s.end)
	if err != nil {
		return err
	}
	if j == s.pos {
		return s.errorf("expected target name after <?")
	}
	target := string(s.buf[s.pos:j])
	s.pos = j
	for s.ensure(1) && isXMLSpaceByte(s.buf[s.pos]) {
		s.pos++
	}
	// The content, up to "?>".
	var content []byte
	for {
		i := bytes.Index(s.buf[s.pos:s.end], []byte("?>"))
		if i >= 0 {
			content = append(content, s.buf[s.pos:s.pos+i]...)
			s.pos += i + 2
			break
		}
		// Keep a trailing '?' for the next round.
		n := s.end - s.pos
		if n > 0 && s.buf[s.end-1] == '?' {
			n--
		}
		if target == "xml" {
			content = append(content, s.buf[s.pos:s.pos+n]...)
		}
		s.pos += n
		if !s.fill() {
			s.pos = s.end
			return s.eof()
		}
	}
	if target != "xml" {
		return nil
	}
	ver := xmlProcInstParam("version", string(content))
	if ver != "" && ver != "1.0" {
		return fmt.Errorf("xml: unsupported version %q; only version 1.0 is supported", ver)
	}
	enc := xmlProcInstParam("encoding", string(content))
	if enc == "" || strings.EqualFold(enc, "utf-8") {
		return nil
	}
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		s.startLatin1()
	case "utf8", "us-ascii", "ascii":
	default:
		if s.onEncoding != nil {
			s.onEncoding(enc)
		}
	}
	return nil
}

// xmlProcInstParam is encoding/xml's procInst: the value of param="..." in s.
func xmlProcInstParam(param, s string) string {
	param += "="
	lenp := len(param)
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || lenp+k >= len(sub) {
			return ""
		}
		i += lenp + k + 1
		if c := sub[lenp+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// scanBang scans "<!": a comment or a directive (skipped) or a CDATA section (a
// text token: isText).
func (s *xmlScanner) scanBang() (isText bool, err error) {
	s.pos += 2 // "<!"
	if !s.ensure(1) {
		return false, s.eof()
	}
	switch s.buf[s.pos] {
	case '-':
		if !s.ensure(2) {
			s.pos = s.end
			return false, s.eof()
		}
		if s.buf[s.pos+1] != '-' {
			s.pos++
			return false, s.errorf("invalid sequence <!- not part of <!--")
		}
		s.pos += 2
		return false, s.skipComment(true)
	case '[':
		s.pos++
		for i := range len("CDATA[") {
			if !s.ensure(1) {
				return false, s.eof()
			}
			if s.buf[s.pos] != "CDATA["[i] {
				return false, s.errorf("invalid <![ sequence")
			}
			s.pos++
		}
		s.text = s.text[:0]
		if err := s.scanCDATA(); err != nil {
			return false, err
		}
		s.kind = xmlTokText
		return true, nil
	}
	return false, s.skipDirective()
}

// skipComment skips to the end of a comment whose "<!--" has been read; strict
// says "--" must be followed by '>'.
func (s *xmlScanner) skipComment(strict bool) error {
	var b0, b1 byte
	for {
		if s.pos == s.end && !s.fill() {
			return s.eof()
		}
		c := s.buf[s.pos]
		s.pos++
		if b0 == '-' && b1 == '-' {
			if c == '>' {
				return nil
			}
			if strict {
				s.pos--
				return s.errorf(`invalid sequence "--" not allowed in comments`)
			}
		}
		b0, b1 = b1, c
	}
}

// scanCDATA appends a CDATA section's text, up to "]]>", to s.text.
func (s *xmlScanner) scanCDATA() error {
	for {
		if s.pos == s.end && !s.fill() {
			if s.rerr != nil && s.rerr != io.EOF {
				return s.rerr
			}
			return s.errorf("unexpected EOF in CDATA section")
		}
		c := s.buf[s.pos]
		switch {
		case c == ']':
			if s.ensure(3) && s.buf[s.pos+1] == ']' && s.buf[s.pos+2] == '>' {
				s.pos += 3
				return nil
			}
			s.text = append(s.text, c)
			s.pos++
		case c == '\r':
			s.text = append(s.text, '\n')
			s.pos++
			if s.ensure(1) && s.buf[s.pos] == '\n' {
				s.pos++
			}
		case c >= utf8.RuneSelf:
			if err := s.scanRune(); err != nil {
				return err
			}
		case c < 0x20 && c != '\t' && c != '\n':
			return s.errorf("illegal character code %U", rune(c))
		default:
			s.text = append(s.text, c)
			s.pos++
		}
	}
}

// skipDirective skips "<!" directive ">" (a DOCTYPE and its internal subset),
// as encoding/xml reads it: quotes hide brackets, nested brackets count, and
// comments inside are skipped.
func (s *xmlScanner) skipDirective() error {
	var quote byte
	depth := 0
	s.pos++ // the byte after "<!" is taken as it is
	for {
		if s.pos == s.end && !s.fill() {
			return s.eof()
		}
		c := s.buf[s.pos]
		s.pos++
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '>':
			if depth == 0 {
				return nil
			}
			depth--
		case c == '\'' || c == '"':
			quote = c
		case c == '<':
			// "<!--" starts a comment; anything else nests.
			matched := 0
			for matched < 3 {
				if s.pos == s.end && !s.fill() {
					return s.eof()
				}
				if s.buf[s.pos] != "!--"[matched] {
					break
				}
				s.pos++
				matched++
			}
			if matched < 3 {
				depth++
				continue
			}
			if err := s.skipComment(false); err != nil {
				return err
			}
		}
	}
}

// skipToRecord advances to the next "<record" or "<prefix:record" start tag
// and reports whether there is one.
func (s *xmlScanner) skipToRecord() bool {
	s.closeNext = false
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
		if s.end-s.pos < maxTag {
			s.ensure(maxTag)
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
	if i := bytes.IndexByte(b, ':'); i > 0 && i < 64 && !bytes.ContainsAny(b[:i], " \t\r\n<>/") {
		b = b[i+1:]
	}
	if !bytes.HasPrefix(b, []byte("record")) {
		return false
	}
	b = b[len("record"):]
	return len(b) > 0 && (b[0] == '>' || b[0] == '/' || isXMLSpaceByte(b[0]))
}
