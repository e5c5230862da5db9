package marc8

import (
	"fmt"
	"strconv"
	"strings"
)

// A Kind classifies a Problem.
type Kind uint8

const (
	// InvalidEscape is an escape sequence that designates no known set,
	// such as ESC 0x2D 0x5A. It becomes one U+FFFD and the state is kept.
	InvalidEscape Kind = iota + 1
	// TruncatedEscape is an escape sequence cut off by the end of the input.
	TruncatedEscape
	// Undefined is a byte, or an EACC byte triple, that the current set
	// does not define. It becomes U+FFFD.
	Undefined
	// TruncatedChar is an EACC character with fewer than three bytes
	// before the end of the input or a byte from another range. Its bytes
	// become one U+FFFD.
	TruncatedChar
	// NoBase is a combining mark with no base character after it: at the
	// end of the input, before a control character, or beyond the limit
	// of stacked marks. The marks are kept, placed on U+00A0 NO-BREAK
	// SPACE (the Unicode convention for showing a mark in isolation).
	NoBase
)

var kindNames = [...]string{
	InvalidEscape:   "invalid escape sequence",
	TruncatedEscape: "truncated escape sequence",
	Undefined:       "undefined character",
	TruncatedChar:   "truncated multibyte character",
	NoBase:          "combining mark without base character",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// A Problem is one place in the input that could not be decoded cleanly.
type Problem struct {
	Offset int  // byte offset within src of the first byte involved
	Kind   Kind // what went wrong

	seq  [5]byte // the bytes involved (first len of them)
	len  uint8
	g1   bool    // the bytes were read through G1
	set  charset // the set in effect, for Undefined and TruncatedChar
	more bool    // for NoBase: more marks than the decoder stacks
}

// Bytes returns the input bytes the problem is about (at most five).
func (p Problem) Bytes() []byte { return append([]byte(nil), p.seq[:p.len]...) }

// Set returns the name of the character set (as in codetables.xml) that
// was in effect for an Undefined or TruncatedChar problem, and "" for the
// other kinds.
func (p Problem) Set() string {
	if p.Kind != Undefined && p.Kind != TruncatedChar {
		return ""
	}
	return setNames[p.set]
}

// String describes the problem, for example
//
//	invalid escape sequence ESC 0x2D 0x5A at byte 12
//	byte 0xC9 undefined in G1 set "Extended Latin (ANSEL)" at byte 3
func (p Problem) String() string {
	var b strings.Builder
	switch p.Kind {
	case InvalidEscape, TruncatedEscape:
		b.WriteString(p.Kind.String())
		b.WriteString(" ESC")
		for _, c := range p.seq[1:p.len] {
			fmt.Fprintf(&b, " 0x%02X", c)
		}
	case Undefined, TruncatedChar:
		if p.len == 1 {
			fmt.Fprintf(&b, "byte 0x%02X", p.seq[0])
		} else {
			b.WriteString("bytes")
			for _, c := range p.seq[:p.len] {
				fmt.Fprintf(&b, " 0x%02X", c)
			}
		}
		if p.Kind == TruncatedChar {
			b.WriteString(" truncated")
		} else {
			b.WriteString(" undefined")
		}
		g := "G0"
		if p.g1 {
			g = "G1"
		}
		switch {
		case p.seq[0] >= 0x80 && p.seq[0] < 0xA0:
			b.WriteString(" in the C1 control range")
		case p.seq[0] == 0x7F || p.seq[0] == 0xA0 || p.seq[0] == 0xFF:
			b.WriteString(" outside the G0 and G1 ranges")
		default:
			fmt.Fprintf(&b, " in %s set %q", g, setNames[p.set])
		}
	case NoBase:
		fmt.Fprintf(&b, "combining mark 0x%02X without base character", p.seq[0])
		if p.more {
			b.WriteString(" (too many stacked marks)")
		}
	default:
		b.WriteString(p.Kind.String())
	}
	fmt.Fprintf(&b, " at byte %d", p.Offset)
	return b.String()
}

// maxProblems bounds the problems a DecodeError lists; the rest are only
// counted, so garbage input cannot make the error grow without bound.
const maxProblems = 100

// A DecodeError lists the problems met while decoding. Decode still
// returns the whole output, with U+FFFD in place of undecodable bytes.
type DecodeError struct {
	Problems []Problem // in input order, at most 100
	Omitted  int       // further problems not listed in Problems
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("marc8: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "; and %d more problems", e.Omitted)
	}
	return b.String()
}
