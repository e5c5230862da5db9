package marc

import (
	"fmt"
	"strings"
)

// Error is a problem with one record: where it is in the input and what is wrong.
type Error struct {
	Ordinal int    // 1-based position of the record in the input
	Offset  int64  // byte offset of the record's first byte in the input
	ID      string // the record's 001, when known
	Tag     string // the field concerned, when there is one
	Msg     string // what is wrong
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
