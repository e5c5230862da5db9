package marc

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. An *Error wraps one of them (in Err) when the problem has a kind a
// caller may want to test for with errors.Is.
var (
	// ErrMalformed: a record whose structure cannot be recovered at all (too short,
	// no directory). The reader skips it and goes on with the next record.
	ErrMalformed = errors.New("malformed record")
	// ErrRecordTooLong: a record longer than the reader's limit, or a record the
	// writer would make longer than ISO 2709's 99,999 bytes.
	ErrRecordTooLong = errors.New("record too long")
	// ErrFieldTooLong: a field the writer would make longer than ISO 2709's 9,999
	// bytes (see BinaryWriterOptions.SplitLongFields).
	ErrFieldTooLong = errors.New("field too long")
	// ErrEncoding: bytes that are not valid in the record's character encoding, or
	// a leader/09 that contradicts the bytes. A warning, or an error in strict mode.
	ErrEncoding = errors.New("bad character encoding")
	// ErrInvalidField: a field the writer cannot encode (bad tag, a delimiter byte
	// inside a value, subfields on a control field, a zero subfield code).
	ErrInvalidField = errors.New("invalid field")
)

// Error is a problem with one record: where it is in the input and what is wrong.
type Error struct {
	Ordinal int    // 1-based position of the record in the input
	Offset  int64  // byte offset of the record's first byte in the input
	ID      string // the record's 001, when known
	Tag     string // the field concerned, when there is one
	Msg     string // what is wrong
	Err     error  // the kind of problem (one of the Err* sentinels), when there is one
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "record %d (offset %d", e.Ordinal, e.Offset)
	if e.ID != "" {
		fmt.Fprintf(&b, ", 001 %q", e.ID)
	}
	b.WriteString(")")
	if e.Tag != "" {
		fmt.Fprintf(&b, ", field %s", e.Tag)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the kind of problem, so that errors.Is(err, ErrFieldTooLong) works.
func (e *Error) Unwrap() error { return e.Err }
