package marc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ISO 2709 structure.
const (
	recordTerminator  = 0x1D
	fieldTerminator   = 0x1E
	subfieldDelimiter = 0x1F

	leaderLen      = 24
	dirEntryLen    = 12
	maxRecordLen   = 99999 // what five digits of record length can say
	maxFieldLen    = 9999  // what four digits of field length can say
	maxWarnings    = 50    // per record; more are summarised in one last warning
	readBufferSize = 64 << 10
)

// DefaultMaxRecordLength is the longest record a BinaryReader accepts unless told
// otherwise. It is well above ISO 2709's 99,999 bytes because real files hold longer
// records (their leader length wrapped); it bounds the reader's memory.
const DefaultMaxRecordLength = 1 << 20

// BinaryReaderOptions configure a BinaryReader. The zero value is the default:
// automatic encoding detection, lenient, DefaultMaxRecordLength.
type BinaryReaderOptions struct {
	// Encoding says how to decode the records' text; see EncodingAuto.
	Encoding Encoding
	// Strict makes encoding problems (invalid bytes, a leader/09 that contradicts
	// the bytes, MARC-8 that cannot be decoded) errors that reject the record
	// instead of warnings. Structural problems are recovered from either way.
	Strict bool
	// MaxRecordLength is the longest record, in bytes, the reader accepts; longer
	// ones are skipped with an ErrRecordTooLong error. Zero means
	// DefaultMaxRecordLength.
	MaxRecordLength int
}

func (o *BinaryReaderOptions) withDefaults() BinaryReaderOptions {
	var out BinaryReaderOptions
	if o != nil {
		out = *o
	}
	if out.MaxRecordLength == 0 {
		out.MaxRecordLength = DefaultMaxRecordLength
	}
	return out
}

func (o *BinaryReaderOptions) validate() error {
	switch {
	case o.Encoding < EncodingAuto || o.Encoding > EncodingMARC8:
		return fmt.Errorf("marc: BinaryReaderOptions.Encoding: unknown value %d", int(o.Encoding))
	case o.MaxRecordLength < leaderLen+2:
		return fmt.Errorf("marc: BinaryReaderOptions.MaxRecordLength: %d is shorter than the smallest record (%d bytes)", o.MaxRecordLength, leaderLen+2)
	}
	return nil
}

// BinaryReader reads ISO 2709 (binary MARC 21) records from a stream, one at a
// time, in constant memory.
//
// A record is the bytes up to the next record terminator (0x1D) whatever its
// leader says; the leader's lengths and the directory are only hints. Bytes between
// records (newlines, spaces, NULs) are skipped. When the directory does not match
// the data, the fields are recovered by splitting the data on field terminators
// and the record carries warnings. Every record returned is UTF-8 (leader/09 'a'),
// whatever it was in the input, and its leader says so: leader/09 is 'a', 10-11
// "22" and 20-23 "4500"; the other positions, lengths included, are as read.
//
// Values in a returned record are substrings of one string per record: keeping
// any of them keeps the whole record's text in memory. A BinaryReader is not safe
// for concurrent use.
type BinaryReader struct {
	br      *bufio.Reader
	opts    BinaryReaderOptions
	offset  int64 // input offset of the next byte bufio will return
	ordinal int   // records (and unrecoverable records) seen so far

	acc []byte // a record longer than bufio's buffer

	// pending is the rest of a chunk that held two records run together (the first
	// lacking its terminator); it is read before the input, and stays valid because
	// nothing touches bufio or acc until it is consumed.
	pending           []byte
	pendingOff        int64
	pendingTerminated bool

	p      parser // scratch reused from record to record
	rawBuf []byte // ReadRaw's copy of a record that lacked its terminator
}

// NewBinaryReader returns a reader of r. opts may be nil for the defaults.
func NewBinaryReader(r io.Reader, opts *BinaryReaderOptions) (*BinaryReader, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &BinaryReader{br: bufio.NewReaderSize(r, readBufferSize), opts: o}, nil
}

// Read returns the next record. It returns (rec, nil) for a good or recovered
// record (a recovered one carries Warnings, each an *Error); (nil, *Error) for a
// record that cannot be recovered at all, after which the next call goes on with
// the next record; (nil, io.EOF) at the end of the input; and (nil, err) for an
// error from the underlying reader.
func (r *BinaryReader) Read() (*Record, error) {
	rec := new(Record)
	if err := r.read(rec, false); err != nil {
		return nil, err
	}
	return rec, nil
}

// ReadRecord is Read into rec, reusing storage: rec's Fields, and every field's
// Subfields, are slices of arrays the reader owns and overwrites on the next call
// to ReadRecord, so they must not be kept across calls (copy what is needed; the
// strings, Tag and Value, stay valid). It allocates one string per record, where
// Read allocates the fields and subfields as well. On error rec is unchanged.
func (r *BinaryReader) ReadRecord(rec *Record) error {
	return r.read(rec, true)
}

func (r *BinaryReader) read(rec *Record, reuse bool) error {
	r.p.reuse = reuse
	body, err := r.next()
	if err != nil {
		return err
	}
	return r.build(rec, body)
}

// next finds the next record: it resets the parser for it (ordinal,
// offset, its framing warnings) and returns its bytes without terminator,
// or the error that ends it (a record too long or too short, io.EOF, an
// error from the input).
func (r *BinaryReader) next() ([]byte, error) {
	if r.pending != nil {
		chunk, off, terminated := r.pending, r.pendingOff, r.pendingTerminated
		r.pending = nil
		r.ordinal++
		return r.frame(chunk, off, terminated)
	}
	chunk, off, tooLong, err := r.readChunk()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(chunk) == 0 && !tooLong {
		return nil, io.EOF
	}
	r.ordinal++
	if tooLong {
		return nil, &Error{Ordinal: r.ordinal, Offset: off, Err: ErrRecordTooLong,
			Msg: fmt.Sprintf("no record terminator within %d bytes; skipped to the next one", r.opts.MaxRecordLength)}
	}
	return r.frame(chunk, off, err == nil)
}

// isStray reports whether c may be skipped between records: white space, NUL,
// Ctrl-Z, and terminators with no record before them.
func isStray(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x00, 0x1A, fieldTerminator, recordTerminator:
		return true
	}
	return false
}

func strayPrefix(b []byte) int {
	i := 0
	for i < len(b) && isStray(b[i]) {
		i++
	}
	return i
}

// readChunk returns the bytes of the next record, its record terminator included
// unless the input ended first (err io.EOF), and the input offset of its first
// byte. Stray bytes before it are skipped. A record longer than MaxRecordLength is
// consumed and reported with tooLong and no bytes.
func (r *BinaryReader) readChunk() (chunk []byte, off int64, tooLong bool, err error) {
	var line []byte
	for {
		off = r.offset
		line, err = r.br.ReadSlice(recordTerminator)
		r.offset += int64(len(line))
		k := strayPrefix(line)
		line = line[k:]
		off += int64(k)
		if len(line) > 0 || (err != nil && !errors.Is(err, bufio.ErrBufferFull)) {
			break
		}
	}
	limit := r.opts.MaxRecordLength
	if !errors.Is(err, bufio.ErrBufferFull) {
		if len(line) > limit {
			return nil, off, true, err
		}
		return line, off, false, err
	}
	r.acc = append(r.acc[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = r.br.ReadSlice(recordTerminator)
		r.offset += int64(len(line))
		if tooLong {
			continue
		}
		if len(r.acc)+len(line) > limit {
			tooLong = true
			r.acc = r.acc[:0]
			continue
		}
		r.acc = append(r.acc, line...)
	}
	if tooLong {
		return nil, off, true, err
	}
	return r.acc, off, false, err
}

// frame finds the record in chunk (the bytes readChunk returned, or the
// rest of a chunk holding two records): it skips junk before the leader and
// cuts off a second record run into it, which it keeps in pending. It
// returns the record's bytes without terminator; the parser holds the
// record's ordinal, offset and warnings.
func (r *BinaryReader) frame(chunk []byte, off int64, terminated bool) ([]byte, error) {
	p := &r.p
	p.reset(r.ordinal, off)

	body := chunk
	if terminated {
		body = chunk[:len(chunk)-1]
	}

	// Junk before the leader: look for something that looks like one.
	if !looksLikeLeader(body, 0) {
		if q := findLeader(body); q > 0 {
			p.warnf("", nil, "skipped %d bytes of junk before the leader", q)
			chunk, body = chunk[q:], body[q:]
			off += int64(q)
			p.off = off
		}
	}
	if len(body) < leaderLen+1 {
		return nil, p.fail(ErrMalformed, "record is %d bytes, too short for a leader and a directory", len(chunk))
	}

	// Two records run together, the first lacking its terminator (or with another
	// byte in its place): its last field terminator is where the leader's length
	// says, and another leader follows.
	if next := gluedRecord(body); next > 0 {
		r.pending, r.pendingOff, r.pendingTerminated = chunk[next:], off+int64(next), terminated
		p.warnf("", nil, "record terminator missing: another record starts at byte %d, where the leader's length ends", off+int64(next))
		n, _ := atoi(body[0:5])
		body = body[:n-1]
	} else if !terminated {
		p.warnf("", nil, "input ends before the record terminator")
	}
	return body, nil
}

// gluedRecord returns where a second record starts in body when the first lacks
// its terminator, or 0.
func gluedRecord(body []byte) int {
	n, ok := atoi(body[0:5])
	if !ok || n <= leaderLen+1 || n > len(body) || body[n-2] != fieldTerminator {
		return 0
	}
	for _, next := range []int{n - 1, n} {
		if !looksLikeLeader(body, next) {
			continue
		}
		if base, ok := atoi(body[next+12 : next+17]); ok && base > leaderLen && next+base-1 < len(body) && body[next+base-1] == fieldTerminator {
			return next
		}
	}
	return 0
}

// looksLikeLeader reports whether b[i:] starts with five digits (record length) and
// has five digits at leader/12 (base address).
func looksLikeLeader(b []byte, i int) bool {
	if i+leaderLen > len(b) {
		return false
	}
	_, ok1 := atoi(b[i : i+5])
	_, ok2 := atoi(b[i+12 : i+17])
	return ok1 && ok2
}

func findLeader(b []byte) int {
	for i := 1; i+leaderLen <= len(b); i++ {
		if looksLikeLeader(b, i) {
			return i
		}
	}
	return -1
}

// atoi parses ASCII digits; ok is false when b is empty or holds anything else.
func atoi(b []byte) (n int, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// dirEntry is one 12-byte directory entry; positions are relative to the data area.
type dirEntry struct {
	tag    int // position of the tag in the record
	length int
	start  int
	ok     bool // length and start are numbers
}

// fieldSpan is one field as positions in the record's text (before materialising).
type fieldSpan struct {
	tag      int // position of the 3 tag bytes in the text
	num      int // the tag's value when it is three digits, else -1
	fixedTag string
	control  bool
	ind1     byte
	ind2     byte
	v0, v1   int // control field value
	s0, s1   int // range in parser.subs
}

type subSpan struct {
	code   byte
	v0, v1 int
}

// parser holds one record's parse state; its slices are reused.
type parser struct {
	ordinal int
	off     int64
	warns   []*Error
	dropped int // warnings beyond maxWarnings

	ents   []dirEntry
	order  []int
	fields []fieldSpan
	subs   []subSpan
	buf    []byte
	// rewritten: Marshal would not write the record's bytes as they are
	// although nothing was worth a warning (a subfield delimiter ending a
	// field is dropped; a control field holding one is refused).
	rewritten bool

	// reuse says to materialise into ownFields and ownSubs (ReadRecord).
	reuse     bool
	ownFields []Field
	ownSubs   []Subfield
	slab      slab // backing store of the records Read hands out
}

func (p *parser) reset(ordinal int, off int64) {
	p.ordinal, p.off = ordinal, off
	clear(p.warns)
	p.warns = p.warns[:0]
	p.dropped = 0
	p.ents = p.ents[:0]
	p.order = p.order[:0]
	p.fields = p.fields[:0]
	p.subs = p.subs[:0]
	p.buf = p.buf[:0]
	p.rewritten = false
}

func (p *parser) warnf(tag string, kind error, format string, args ...any) {
	if len(p.warns) >= maxWarnings {
		p.dropped++
		return
	}
	p.warns = append(p.warns, &Error{Ordinal: p.ordinal, Offset: p.off, Tag: tag, Msg: fmt.Sprintf(format, args...), Err: kind})
}

func (p *parser) fail(kind error, format string, args ...any) *Error {
	return &Error{Ordinal: p.ordinal, Offset: p.off, Msg: fmt.Sprintf(format, args...), Err: kind}
}

// build parses into rec a record whose bytes, without terminator, are body.
func (r *BinaryReader) build(rec *Record, body []byte) error {
	pr, err := r.parse(body)
	if err != nil {
		return err
	}
	return r.finish(rec, pr)
}

// parsed is a record parsed into the parser's spans, not yet materialised.
type parsed struct {
	text   []byte // what the spans' strings are cut from (see parse)
	shift  int    // the position of text[0] in the spans' coordinates
	leader Leader // as the record will have it
	data   int    // where the data area starts in the record
	// canonical: the record's bytes are exactly what Marshal writes for the
	// record they decode to (see canonical).
	canonical bool
}

// parse parses the record whose bytes, without terminator, are body into the
// parser's spans and warnings.
func (r *BinaryReader) parse(body []byte) (parsed, error) {
	p := &r.p
	size := len(body) + 1 // with its terminator
	var leader Leader
	copy(leader[:], body[:leaderLen])
	p.checkLeader(&leader, size)

	rs := bytes.IndexByte(body[leaderLen:], fieldTerminator)
	if rs < 0 {
		return parsed{}, p.fail(ErrMalformed, "no field terminator after the leader, so no directory")
	}
	dirEnd := leaderLen + rs
	dataStart := dirEnd + 1
	if base, ok := atoi(leader[12:17]); !ok {
		p.warnf("", nil, "leader base address %q is not a number; the directory ends at %d", string(leader[12:17]), dataStart)
	} else if base != dataStart {
		p.warnf("", nil, "leader base address is %d but the directory ends at %d", base, dataStart)
	}

	p.parseDirectory(body, dirEnd)
	data := body[dataStart:]
	inOrder := p.directoryFits(body, data)
	if !inOrder {
		p.recoverFields(body, dataStart, dirEnd)
	} else {
		inOrder = len(p.order) == 0 // directoryFits sorts the entries it found out of order
		for _, e := range p.ents {
			a := dataStart + e.start
			p.fields = append(p.fields, fieldSpan{tag: e.tag, v0: a, v1: a + e.length - 1})
		}
	}
	if len(p.fields) == 0 {
		p.warnf("", nil, "record has no fields")
	}

	v := decideEncoding(body[dataStart:], leader[9], r.opts.Encoding)
	if v.msg != "" {
		p.warnf("", ErrEncoding, "%s", v.msg)
	}
	for i := range p.fields {
		p.parseField(body, i, v.kind)
	}

	// The text the record's strings are cut from: the data area, or the whole
	// record when a tag is not numeric (tags come from the directory then), or the
	// converted text.
	text, shift := body, 0
	if v.kind != textUTF8 {
		text = p.convert(body, v.kind)
	} else if p.numericTags() {
		text, shift = body[dataStart:], dataStart
	}
	canonical := len(p.warns) == 0 && v.kind == textUTF8 && inOrder && !p.rewritten &&
		leader[9] == 'a' && leader[22] == '0' && leader[23] == '0'
	// The record is now UTF-8, and its structure is MARC 21's whatever the input
	// leader claimed. The lengths (00-04, 12-16) are left as read.
	leader[9] = 'a'
	copy(leader[10:12], "22")
	copy(leader[20:24], "4500")
	return parsed{text: text, shift: shift, leader: leader, data: dataStart, canonical: canonical}, nil
}

// finish materialises the parsed record into rec with its warnings.
func (r *BinaryReader) finish(rec *Record, pr parsed) error {
	p := &r.p
	if len(p.warns) == 0 {
		p.materialize(rec, pr.text, pr.shift, pr.leader)
		rec.Warnings = nil
		return nil
	}
	id := p.controlNumber(pr.text, pr.shift)
	for _, w := range p.warns {
		w.ID = id
	}
	if r.opts.Strict {
		for _, w := range p.warns {
			if w.Err == ErrEncoding {
				return w
			}
		}
	}
	if p.dropped > 0 {
		p.warns = append(p.warns, &Error{Ordinal: p.ordinal, Offset: p.off, ID: id, Msg: fmt.Sprintf("%d more problems not reported", p.dropped)})
	}
	p.materialize(rec, pr.text, pr.shift, pr.leader)
	rec.Warnings = make([]error, len(p.warns))
	for i, w := range p.warns {
		rec.Warnings[i] = w
	}
	return nil
}

// controlNumber returns the value of the first 001, before materialising.
func (p *parser) controlNumber(text []byte, shift int) string {
	for i := range p.fields {
		if f := &p.fields[i]; f.num == 1 && f.control {
			return string(text[f.v0-shift : f.v1-shift])
		}
	}
	return ""
}

// checkLeader warns about the leader positions the structure depends on and makes
// every leader byte printable ASCII.
func (p *parser) checkLeader(l *Leader, size int) {
	if n, ok := atoi(l[0:5]); !ok {
		p.warnf("", nil, "leader record length %q is not a number; the record is %d bytes", string(l[0:5]), size)
	} else if n != size {
		p.warnf("", nil, "leader record length is %d but the record is %d bytes", n, size)
	}
	if l[10] != '2' || l[11] != '2' {
		p.warnf("", nil, "leader/10-11 (indicator count, subfield code length) is %q, not \"22\"", string(l[10:12]))
	}
	if l[20] != '4' || l[21] != '5' {
		p.warnf("", nil, "leader/20-21 (length of field length, of start position) is %q, not \"45\"", string(l[20:22]))
	}
	bad := false
	for i, c := range l {
		if c < 0x20 || c > 0x7E {
			l[i] = ' '
			bad = true
		}
	}
	if bad {
		p.warnf("", nil, "leader holds bytes that are not printable ASCII; replaced with spaces")
	}
}

// parseDirectory splits body[leaderLen:dirEnd] into 12-byte entries.
func (p *parser) parseDirectory(body []byte, dirEnd int) {
	dir := body[leaderLen:dirEnd]
	for i := 0; i+dirEntryLen <= len(dir); i += dirEntryLen {
		e := dir[i : i+dirEntryLen]
		length, ok1 := atoi(e[3:7])
		start, ok2 := atoi(e[7:12])
		p.ents = append(p.ents, dirEntry{tag: leaderLen + i, length: length, start: start, ok: ok1 && ok2})
	}
	if rem := len(dir) % dirEntryLen; rem != 0 {
		p.warnf("", nil, "directory is %d bytes, not a multiple of %d; %d bytes left over (%q)", len(dir), dirEntryLen, rem, dir[len(dir)-rem:])
	}
}

// directoryFits reports whether the directory describes the data exactly: every
// entry numeric, the fields tiling the data area with no gap or overlap, each
// ending with the one field terminator it holds. When it does not, it warns about
// the first thing wrong.
func (p *parser) directoryFits(body, data []byte) bool {
	if (len(body)-leaderLen-len(data)-1)%dirEntryLen != 0 {
		return false // already warned by parseDirectory
	}
	for i, e := range p.ents {
		if !e.ok {
			p.warnf(p.tagString(body, e.tag), nil, "directory entry %d %q: length or start is not a number", i+1, body[e.tag:e.tag+dirEntryLen])
			return false
		}
	}
	end, failed, msg := p.tile(body, data, nil)
	if failed == outOfOrder {
		// Not in data order: check again sorted by start.
		p.order = p.order[:0]
		for i := range p.ents {
			p.order = append(p.order, i)
		}
		slices.SortStableFunc(p.order, func(a, b int) int { return p.ents[a].start - p.ents[b].start })
		end, failed, msg = p.tile(body, data, p.order)
	}
	if failed >= 0 {
		p.warnf(p.tagString(body, p.ents[failed].tag), nil, "directory entry %d %s", failed+1, msg)
		return false
	}
	if end != len(data) {
		p.warnf("", nil, "the directory accounts for %d bytes of data but there are %d", end, len(data))
		return false
	}
	if n := bytes.Count(data, []byte{fieldTerminator}); n != len(p.ents) {
		p.warnf("", nil, "the directory has %d entries but the data holds %d field terminators", len(p.ents), n)
		return false
	}
	return true
}

// outOfOrder is what tile returns as the failing entry when the entries are
// merely not in data order.
const outOfOrder = -2

// tile walks the entries (in directory order when order is nil) checking that
// each starts where the previous ended and ends with a field terminator. It
// returns where the last ended, and the index of the first entry that does not
// fit (-1 if none; outOfOrder when order is nil and the entries are not in data
// order) with what is wrong with it.
func (p *parser) tile(body, data []byte, order []int) (at, failed int, msg string) {
	for k := range p.ents {
		i := k
		if order != nil {
			i = order[k]
		}
		e := p.ents[i]
		if e.start != at {
			if order == nil {
				return at, outOfOrder, ""
			}
			return at, i, fmt.Sprintf("says the field starts at %d, but the previous field ends at %d", e.start, at)
		}
		end := e.start + e.length
		switch {
		case e.length == 0:
			return at, i, "gives the field length 0"
		case end > len(data):
			return at, i, fmt.Sprintf("says the field ends at %d, past the end of the data (%d bytes)", end, len(data))
		case data[end-1] != fieldTerminator:
			return at, i, fmt.Sprintf("says the field ends at %d, but no field terminator is there", end)
		}
		at = end
	}
	return at, -1, ""
}

// tagString returns the tag at pos as a string for a message.
func (p *parser) tagString(body []byte, pos int) string {
	return sanitizeTag(body[pos : pos+3])
}

func sanitizeTag(t []byte) string {
	var b [3]byte
	for i, c := range t[:3] {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		b[i] = c
	}
	return string(b[:])
}

// recoverFields finds the fields by their terminators when the directory does not
// describe the data, and pairs each with a tag: the entry whose start and length
// match it exactly; else an entry whose digits spell its length and start (with
// lengths over 9,999 written in five digits, or wrapped); else the entry in the
// same position in the directory.
func (p *parser) recoverFields(body []byte, dataStart, dirEnd int) {
	data := body[dataStart:]
	dir := body[leaderLen:dirEnd]
	var byStart map[int]int
	for i, e := range p.ents {
		if e.ok {
			if byStart == nil {
				byStart = make(map[int]int, len(p.ents))
			}
			if _, dup := byStart[e.start]; !dup {
				byStart[e.start] = i
			}
		}
	}
	positional, lost := 0, 0
	var digits []byte
	cursor := 0 // where in dir the entry for the next field is expected
	for k, at := 0, 0; at < len(data); k++ {
		end := at + bytes.IndexByte(data[at:], fieldTerminator)
		next := end + 1
		if end < at {
			end, next = len(data), len(data)
			if isBlank(data[at:]) {
				break
			}
			p.warnf("", nil, "%d bytes after the last field terminator; kept as a field", len(data)-at)
		}
		length := next - at
		tag := -1
		if i, ok := byStart[at]; ok && p.ents[i].length == length {
			tag = p.ents[i].tag
			cursor = tag - leaderLen + dirEntryLen
		}
		// Search near where the entry is expected (not the whole directory: that
		// would make recovery quadratic).
		lo, hi := max(0, cursor-2*dirEntryLen), min(len(dir), cursor+4*dirEntryLen)
		for spell := 0; tag < 0 && spell < 2; spell++ {
			l, a := length, at
			if spell == 1 {
				l, a = length%(maxFieldLen+1), at%(maxRecordLen+1)
			}
			digits = appendDigits(appendDigits(digits[:0], l, 4), a, 5)
			if q := bytes.Index(dir[lo:hi], digits); q >= 0 && lo+q >= 3 {
				tag = leaderLen + lo + q - 3
				cursor = lo + q + len(digits)
			}
		}
		if tag < 0 && k < len(p.ents) {
			tag = p.ents[k].tag
			cursor = tag - leaderLen + dirEntryLen
			positional++
		}
		if tag < 0 {
			lost++
		} else {
			p.fields = append(p.fields, fieldSpan{tag: tag, v0: dataStart + at, v1: dataStart + end})
		}
		at = next
	}
	msg := fmt.Sprintf("fields recovered from their terminators: %d fields for %d directory entries", len(p.fields)+lost, len(p.ents))
	if positional > 0 {
		msg += fmt.Sprintf("; %d tags taken by position in the directory", positional)
	}
	if lost > 0 {
		msg += fmt.Sprintf("; %d fields with no directory entry dropped", lost)
	}
	p.warnf("", nil, "%s", msg)
}

// appendDigits appends n in decimal, zero-padded to at least width digits.
func appendDigits(dst []byte, n, width int) []byte {
	var b [20]byte
	i := len(b)
	for n > 0 || i > len(b)-width {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[i:]...)
}

// clip quotes b for a message, cut to its first 32 bytes.
func clip(b []byte) string {
	if len(b) > 32 {
		return strconv.Quote(string(b[:32])) + "..."
	}
	return strconv.Quote(string(b))
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if !isStray(c) {
			return false
		}
	}
	return true
}

// parseField finds the indicators and subfields of field i. v0 and v1 hold the
// field's content (without terminator) on entry.
func (p *parser) parseField(body []byte, i int, kind textKind) {
	f := &p.fields[i]
	t := body[f.tag : f.tag+3]
	f.num = -1
	if isDigit(t[0]) && isDigit(t[1]) && isDigit(t[2]) {
		f.num = int(t[0]-'0')*100 + int(t[1]-'0')*10 + int(t[2]-'0')
	} else if !isAlnum(t[0]) || !isAlnum(t[1]) || !isAlnum(t[2]) {
		f.fixedTag = sanitizeTag(t)
		p.warnf(f.fixedTag, nil, "tag %q is not three letters or digits", t)
		if f.fixedTag == string(t) {
			f.fixedTag = ""
		}
	}
	if t[0] == '0' && t[1] == '0' {
		f.control = true
		p.rewritten = p.rewritten || bytes.IndexByte(body[f.v0:f.v1], subfieldDelimiter) >= 0
		return
	}
	a, b := f.v0, f.v1
	c := body[a:b]
	head := c
	us := 2 // nearly always: two indicators, then a subfield
	if len(c) < 3 || c[2] != subfieldDelimiter {
		us = bytes.IndexByte(c, subfieldDelimiter)
	}
	if us >= 0 {
		head = c[:us]
	}
	f.ind1, f.ind2 = ' ', ' '
	switch {
	case len(head) >= 2:
		f.ind1, f.ind2 = head[0], head[1]
		if len(head) > 2 {
			p.warnf(f.tagName(body), nil, "dropped %d bytes %s between the indicators and the first subfield (byte %d)", len(head)-2, clip(head[2:]), p.off+int64(a+2))
		}
	case len(head) == 1:
		f.ind1 = head[0]
		p.warnf(f.tagName(body), nil, "only one indicator before the first subfield (byte %d); the second set to blank", p.off+int64(a))
	default:
		p.warnf(f.tagName(body), nil, "no indicators before the first subfield (byte %d); both set to blank", p.off+int64(a))
	}
	if !isPrint(f.ind1) || !isPrint(f.ind2) {
		p.warnf(f.tagName(body), nil, "indicators %q are not printable ASCII; replaced with blanks", []byte{f.ind1, f.ind2})
		if !isPrint(f.ind1) {
			f.ind1 = ' '
		}
		if !isPrint(f.ind2) {
			f.ind2 = ' '
		}
	}
	f.s0 = len(p.subs)
	if us < 0 {
		p.warnf(f.tagName(body), nil, "data field has no subfields")
	} else {
		for at := a + us; at < b; {
			// body[at] is a subfield delimiter.
			cs := at + 1
			if cs >= b {
				p.rewritten = true // a delimiter ending the field: nothing lost, common, not worth a warning
				break
			}
			code := body[cs]
			if code == subfieldDelimiter {
				p.warnf(f.tagName(body), nil, "subfield delimiter with no code or data (byte %d); dropped", p.off+int64(at))
				at = cs
				continue
			}
			vs := cs + 1
			if code < 0x21 || code > 0x7E {
				if r, n := utf8.DecodeRune(body[cs:b]); kind != textMARC8 && n > 1 {
					p.warnf(f.tagName(body), nil, "subfield code %q (%U) is not ASCII (byte %d); replaced with '?'", r, r, p.off+int64(cs))
					vs = cs + n
				} else {
					p.warnf(f.tagName(body), nil, "subfield code byte 0x%02X is not a printable ASCII character (byte %d); replaced with '?'", code, p.off+int64(cs))
				}
				code = '?'
			}
			end := bytes.IndexByte(body[vs:b], subfieldDelimiter)
			if end < 0 {
				end = b
			} else {
				end += vs
			}
			p.subs = append(p.subs, subSpan{code: code, v0: vs, v1: end})
			at = end
		}
	}
	f.s1 = len(p.subs)
}

func (f *fieldSpan) tagName(body []byte) string {
	return f.tagAt(body, f.tag)
}

// tagAt is tagName for a span whose tag was at pos in body.
func (f *fieldSpan) tagAt(body []byte, pos int) string {
	if f.fixedTag != "" {
		return f.fixedTag
	}
	return string(body[pos : pos+3])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isPrint(c byte) bool { return c >= 0x20 && c <= 0x7E }

// convert copies the tags and values into p.buf, decoding MARC-8 or repairing
// UTF-8, rewrites the spans to point into it and returns it.
func (p *parser) convert(body []byte, kind textKind) []byte {
	buf := p.buf[:0]
	for i := range p.fields {
		f := &p.fields[i]
		origTag := f.tag
		if f.num < 0 {
			n := len(buf)
			buf = append(buf, body[f.tag:f.tag+3]...)
			f.tag = n
		}
		var repaired bool
		var decodeErr error
		conv := func(v0, v1 int) (int, int) {
			n := len(buf)
			var bad bool
			var err error
			v := body[v0:v1]
			switch {
			case kind == textMARC8 && isASCII(v) && bytes.IndexByte(v, esc) < 0:
				buf = append(buf, v...) // MARC-8 starts each value in ASCII
			case kind == textMARC8:
				buf, bad, err = appendMARC8(buf, v)
			default:
				buf, bad = appendValidUTF8(buf, v)
			}
			repaired = repaired || bad
			if decodeErr == nil {
				decodeErr = err
			}
			return n, len(buf)
		}
		if f.control {
			f.v0, f.v1 = conv(f.v0, f.v1)
		} else {
			for j := f.s0; j < f.s1; j++ {
				s := &p.subs[j]
				s.v0, s.v1 = conv(s.v0, s.v1)
			}
		}
		switch {
		case decodeErr != nil:
			p.warnf(f.tagAt(body, origTag), ErrEncoding, "MARC-8: %v", decodeErr)
		case repaired && kind == textMARC8:
			p.warnf(f.tagAt(body, origTag), ErrEncoding, "MARC-8 decoding left invalid UTF-8; replaced with U+FFFD")
		case repaired:
			p.warnf(f.tagAt(body, origTag), ErrEncoding, "invalid UTF-8 replaced with U+FFFD")
		}
	}
	p.buf = buf
	return buf
}

// numericTags reports whether every field's tag is three digits.
func (p *parser) numericTags() bool {
	for i := range p.fields {
		if p.fields[i].num < 0 {
			return false
		}
	}
	return true
}

// tagDigits holds "000" to "999" one after the other: numeric tags are cut from
// it, so they cost no allocation and do not keep a record's text alive.
var tagDigits = func() string {
	b := make([]byte, 0, 3000)
	for i := range 1000 {
		b = append(b, byte('0'+i/100), byte('0'+i/10%10), byte('0'+i%10))
	}
	return string(b)
}()

// materialize fills rec: one string for all the text (text, which starts at
// position shift of the spans' coordinates), fields and subfields as substrings of
// it, in one array of fields and one of subfields: new ones, or the parser's own
// when reusing.
func (p *parser) materialize(rec *Record, text []byte, shift int, leader Leader) {
	var s string
	rec.Leader = leader
	var fields []Field
	var subs []Subfield
	if p.reuse {
		s = string(text)
		fields = slices.Grow(p.ownFields[:0], len(p.fields))[:len(p.fields)]
		subs = slices.Grow(p.ownSubs[:0], len(p.subs))[:len(p.subs)]
		p.ownFields, p.ownSubs = fields, subs
	} else {
		s = p.slab.text(text)
		fields = p.slab.fields(len(p.fields))
		subs = p.slab.subfields(len(p.subs))
	}
	for j, sp := range p.subs {
		subs[j] = Subfield{Code: sp.code, Value: s[sp.v0-shift : sp.v1-shift]}
	}
	for i := range p.fields {
		sp := &p.fields[i]
		var tag string
		switch {
		case sp.num >= 0:
			tag = tagDigits[3*sp.num : 3*sp.num+3]
		case sp.fixedTag != "":
			tag = sp.fixedTag
		default:
			tag = s[sp.tag-shift : sp.tag-shift+3]
		}
		switch {
		case sp.control:
			fields[i] = Field{Tag: tag, Value: s[sp.v0-shift : sp.v1-shift]}
		case sp.s1 > sp.s0:
			fields[i] = Field{Tag: tag, Ind1: sp.ind1, Ind2: sp.ind2, Subfields: subs[sp.s0:sp.s1:sp.s1]}
		default:
			fields[i] = Field{Tag: tag, Ind1: sp.ind1, Ind2: sp.ind2}
		}
	}
	rec.Fields = fields
}

// Unmarshal parses one binary record (the first in data) with the default options.
func Unmarshal(data []byte) (*Record, error) {
	// A read buffer the size of the record, not readBufferSize: a Metadata
	// Import chunk unmarshals thousands of records, and 64 KB of garbage
	// each was most of its allocation.
	r := &BinaryReader{br: bufio.NewReaderSize(bytes.NewReader(data), len(data)+1), opts: (*BinaryReaderOptions)(nil).withDefaults()}
	rec, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Ordinal: 1, Err: ErrMalformed, Msg: "no record in " + strconv.Itoa(len(data)) + " bytes"}
	}
	return rec, err
}
