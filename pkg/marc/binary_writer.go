package marc

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"
)

// BinaryWriterOptions configure a BinaryWriter. The zero value is the default.
type BinaryWriterOptions struct {
	// SplitLongFields makes the writer split a field longer than ISO 2709's 9,999
	// bytes into several consecutive fields with the same tag instead of refusing
	// the record. A data field is split between subfields, each part keeping the
	// indicators; a subfield too long for one field on its own is cut between
	// characters into several subfields with the same code. A control field is cut
	// between characters. A record still longer than 99,999 bytes is refused.
	SplitLongFields bool
}

// BinaryWriter writes records as ISO 2709 (binary MARC 21), one Write call on the
// underlying writer per record.
//
// It recomputes what the leader and directory say about the record's structure:
// record length (leader/00-04), base address (12-16), leader/10-11 "22" and 20-23
// "4500", and sets leader/09 to 'a' (UTF-8); the other leader positions are
// written as they are, a zero byte as a blank. Values must be valid UTF-8 and must
// not contain the delimiter bytes 0x1D, 0x1E or 0x1F.
//
// A field is written as a control field (its Value, no indicators) when its tag is
// 00X, or when it has a Value and no subfields; otherwise as a data field, an
// indicator 0 as a blank. A BinaryWriter is not safe for concurrent use.
type BinaryWriter struct {
	w       io.Writer
	opts    BinaryWriterOptions
	buf     []byte
	ordinal int
	offset  int64
}

// NewBinaryWriter returns a writer to w. opts may be nil for the defaults.
func NewBinaryWriter(w io.Writer, opts *BinaryWriterOptions) *BinaryWriter {
	bw := &BinaryWriter{w: w}
	if opts != nil {
		bw.opts = *opts
	}
	return bw
}

// Write encodes rec and writes it. A record that cannot be encoded is not written
// and the error is an *Error wrapping ErrRecordTooLong, ErrFieldTooLong,
// ErrInvalidField or ErrEncoding; the writer can go on with the next record.
func (w *BinaryWriter) Write(rec *Record) error {
	w.ordinal++
	var err error
	w.buf, err = appendRecord(w.buf[:0], rec, &w.opts, w.ordinal, w.offset)
	if err != nil {
		return err
	}
	n, err := w.w.Write(w.buf)
	w.offset += int64(n)
	return err
}

// Marshal encodes rec as ISO 2709 with the default options.
func Marshal(rec *Record) ([]byte, error) {
	b, err := appendRecord(nil, rec, &BinaryWriterOptions{}, 1, 0)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// writtenAsControl says whether f is encoded as a control field.
func writtenAsControl(f *Field) bool {
	return f.IsControl() || (len(f.Subfields) == 0 && f.Value != "")
}

// encodedLen is the length of f in the data area, terminator included.
func encodedLen(f *Field) int {
	if writtenAsControl(f) {
		return len(f.Value) + 1
	}
	n := 3 // indicators and terminator
	for i := range f.Subfields {
		n += 2 + len(f.Subfields[i].Value)
	}
	return n
}

func appendRecord(dst []byte, rec *Record, opts *BinaryWriterOptions, ordinal int, offset int64) ([]byte, error) {
	fail := func(tag string, kind error, format string, args ...any) error {
		return &Error{Ordinal: ordinal, Offset: offset, ID: rec.ControlNumber(), Tag: tag, Err: kind, Msg: fmt.Sprintf(format, args...)}
	}
	fields := rec.Fields
	dataLen, nsub := 0, 0
	for i := range fields {
		f := &fields[i]
		if len(f.Tag) != 3 {
			return dst, fail(f.Tag, ErrInvalidField, "tag %q is not 3 bytes", f.Tag)
		}
		if f.IsControl() && len(f.Subfields) > 0 {
			return dst, fail(f.Tag, ErrInvalidField, "control field has subfields")
		}
		n := encodedLen(f)
		if n > maxFieldLen {
			if !opts.SplitLongFields {
				return dst, fail(f.Tag, ErrFieldTooLong, "field is %d bytes; ISO 2709 allows %d", n, maxFieldLen)
			}
			fields = splitLongFields(rec.Fields)
			return appendFields(dst, rec, fields, fail)
		}
		dataLen += n
		if !writtenAsControl(f) {
			nsub += len(f.Subfields)
		}
	}
	return appendChecked(dst, rec, fields, dataLen, nsub, fail)
}

// appendFields is appendRecord for fields already split to size.
func appendFields(dst []byte, rec *Record, fields []Field, fail func(string, error, string, ...any) error) ([]byte, error) {
	dataLen, nsub := 0, 0
	for i := range fields {
		dataLen += encodedLen(&fields[i])
		if !writtenAsControl(&fields[i]) {
			nsub += len(fields[i].Subfields)
		}
	}
	return appendChecked(dst, rec, fields, dataLen, nsub, fail)
}

func appendChecked(dst []byte, rec *Record, fields []Field, dataLen, nsub int, fail func(string, error, string, ...any) error) ([]byte, error) {
	base := leaderLen + dirEntryLen*len(fields) + 1
	total := base + dataLen + 1
	if total > maxRecordLen {
		return dst, fail("", ErrRecordTooLong, "record would be %d bytes; ISO 2709 allows %d", total, maxRecordLen)
	}
	start := len(dst)
	dst = grow(dst, total)
	out := dst[start : start+total]

	// Leader.
	copy(out, rec.Leader[:])
	for i, c := range out[:leaderLen] {
		if c == 0 {
			out[i] = ' '
		}
	}
	putDigits(out[0:5], total)
	out[9] = 'a'
	out[10], out[11] = '2', '2'
	putDigits(out[12:17], base)
	copy(out[20:24], "4500")

	// Directory and data.
	dir := leaderLen
	at := base
	zeroCode := false
	for i := range fields {
		f := &fields[i]
		fieldStart := at
		if writtenAsControl(f) {
			at += copy(out[at:], f.Value)
		} else {
			out[at], out[at+1] = blankIfZero(f.Ind1), blankIfZero(f.Ind2)
			at += 2
			for j := range f.Subfields {
				s := &f.Subfields[j]
				out[at], out[at+1] = subfieldDelimiter, s.Code
				zeroCode = zeroCode || s.Code == 0
				at += 2 + copy(out[at+2:], s.Value)
			}
		}
		out[at] = fieldTerminator
		at++
		copy(out[dir:], f.Tag)
		putDigits(out[dir+3:dir+7], at-fieldStart)
		putDigits(out[dir+7:dir+12], fieldStart-base)
		dir += dirEntryLen
	}
	out[dir] = fieldTerminator
	out[at] = recordTerminator

	// Delimiters where they belong and nowhere else; valid UTF-8.
	if zeroCode || bytes.Count(out, []byte{subfieldDelimiter}) != nsub ||
		bytes.Count(out, []byte{fieldTerminator}) != len(fields)+1 ||
		bytes.Count(out, []byte{recordTerminator}) != 1 {
		return dst[:start], findBadDelimiter(rec, fields, fail)
	}
	if !utf8.Valid(out[base:]) {
		for i := range fields {
			if !fieldValidUTF8(&fields[i]) {
				return dst[:start], fail(fields[i].Tag, ErrEncoding, "value is not valid UTF-8")
			}
		}
	}
	return dst, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func blankIfZero(c byte) byte {
	if c == 0 {
		return ' '
	}
	return c
}

// putDigits writes n as len(b) decimal digits; n fits (the caller checked).
func putDigits(b []byte, n int) {
	i := len(b)
	for ; i >= 2; i -= 2 { // two digits at a time: a directory has thousands
		copy(b[i-2:i], digitPairs[2*(n%100):])
		n /= 100
	}
	if i == 1 {
		b[0] = byte('0' + n%10)
	}
}

// digitPairs is "00" to "99" one after the other.
var digitPairs = func() string {
	b := make([]byte, 0, 200)
	for i := range 100 {
		b = append(b, byte('0'+i/10), byte('0'+i%10))
	}
	return string(b)
}()

func isDelimiter(c byte) bool {
	return c == subfieldDelimiter || c == fieldTerminator || c == recordTerminator
}

func hasDelimiter(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDelimiter(s[i]) {
			return true
		}
	}
	return false
}

// findBadDelimiter says which part of the record holds a delimiter byte.
func findBadDelimiter(rec *Record, fields []Field, fail func(string, error, string, ...any) error) error {
	for _, c := range rec.Leader {
		if isDelimiter(c) {
			return fail("", ErrInvalidField, "leader holds a delimiter byte 0x%02X", c)
		}
	}
	for i := range fields {
		f := &fields[i]
		switch {
		case hasDelimiter(f.Tag):
			return fail(f.Tag, ErrInvalidField, "tag %q holds a delimiter byte", f.Tag)
		case writtenAsControl(f):
			if hasDelimiter(f.Value) {
				return fail(f.Tag, ErrInvalidField, "value holds a delimiter byte")
			}
		case isDelimiter(f.Ind1) || isDelimiter(f.Ind2):
			return fail(f.Tag, ErrInvalidField, "indicator is a delimiter byte")
		default:
			for _, s := range f.Subfields {
				if isDelimiter(s.Code) || s.Code == 0 {
					return fail(f.Tag, ErrInvalidField, "subfield code is byte 0x%02X", s.Code)
				}
				if hasDelimiter(s.Value) {
					return fail(f.Tag, ErrInvalidField, "subfield $%c value holds a delimiter byte", s.Code)
				}
			}
		}
	}
	return fail("", ErrInvalidField, "record holds a delimiter byte out of place")
}

func fieldValidUTF8(f *Field) bool {
	if writtenAsControl(f) {
		return utf8.ValidString(f.Value)
	}
	for _, s := range f.Subfields {
		if !utf8.ValidString(s.Value) {
			return false
		}
	}
	return true
}

// splitLongFields returns a copy of fields with every field longer than
// maxFieldLen split into several with the same tag.
func splitLongFields(fields []Field) []Field {
	out := make([]Field, 0, len(fields)+1)
	for _, f := range fields {
		if encodedLen(&f) <= maxFieldLen {
			out = append(out, f)
			continue
		}
		if writtenAsControl(&f) {
			for _, part := range cutString(f.Value, maxFieldLen-1) {
				out = append(out, Field{Tag: f.Tag, Value: part})
			}
			continue
		}
		// Pieces of subfields no longer than a field can hold.
		const room = maxFieldLen - 3 // indicators and terminator
		cur := Field{Tag: f.Tag, Ind1: f.Ind1, Ind2: f.Ind2}
		used := 0
		flush := func() {
			if len(cur.Subfields) > 0 {
				out = append(out, cur)
			}
			cur = Field{Tag: f.Tag, Ind1: f.Ind1, Ind2: f.Ind2}
			used = 0
		}
		for _, s := range f.Subfields {
			for _, part := range cutString(s.Value, room-2) {
				if used+2+len(part) > room {
					flush()
				}
				cur.Subfields = append(cur.Subfields, Subfield{Code: s.Code, Value: part})
				used += 2 + len(part)
			}
		}
		flush()
	}
	return out
}

// cutString cuts s into pieces of at most n bytes, between UTF-8 characters.
func cutString(s string, n int) []string {
	if len(s) <= n {
		return []string{s}
	}
	var parts []string
	for len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		if i == 0 {
			i = n // not UTF-8 anyway; the writer will refuse it
		}
		parts = append(parts, s[:i])
		s = s[i:]
	}
	return append(parts, s)
}
