// Package marc8 converts MARC-8 encoded bytes to UTF-8.
//
// MARC-8 is the ISO 2022 based character encoding of MARC 21 records whose
// leader position 09 is blank. Bytes 0x21-0x7E are read through the G0 set
// and 0xA1-0xFE through the G1 set; escape sequences change the sets. Decode
// starts with Basic Latin (ASCII) as G0 and Extended Latin (ANSEL) as G1 and
// knows every set of the Library of Congress code tables: ASCII, ANSEL,
// Greek symbols, subscripts, superscripts, Hebrew, basic and extended
// Cyrillic, basic and extended Arabic, Greek and the East Asian Character
// Code (EACC, three bytes per character).
//
// # Conversion rules
//
// The rules follow the MARC-8 specification and, where it is silent, the
// yaz toolkit (yaz-iconv, yaz-marcdump), against which the tests compare:
//
//   - Escape sequences: ESC ( F, ESC , F, ESC $ F, ESC $ ( F and ESC $ , F
//     designate set F as G0; ESC ) F, ESC - F, ESC $ ) F and ESC $ - F as G1.
//     F is the set's final byte (B ASCII, E ANSEL, g, b, p, 2, N, Q, 3, 4, S,
//     1 EACC); ANSEL may also be written !E. As in yaz the $ is accepted but
//     not required: the final byte alone names the set. The two-byte escapes
//     ESC g, ESC b, ESC p (Greek symbols, subscripts, superscripts) and ESC s
//     (back to ASCII) designate G0.
//   - Combining marks precede their base character in MARC-8 and follow it
//     in Unicode: Decode moves them (up to 16 may stack, kept in MARC order
//     as yaz, marc4j and pymarc do) and composes the result to NFC. A space
//     is a valid base (MARC-8 writes a spacing diacritic that way).
//   - The double diacritics ligature (0xEB 0xEC) and double tilde (0xFA
//     0xFB) become U+0361 and U+0360 after the first base character; the
//     second halves produce nothing, per the code tables and yaz.
//   - Space and the C0 controls other than ESC pass through; C1 0x88/0x89
//     (non-sort begin/end) become U+0098/U+009C and 0x8D/0x8E U+200D/U+200C,
//     as in yaz.
//   - The field terminator 0x1E, record terminator 0x1D and subfield
//     delimiter 0x1F end a run of text and restore the default sets, so a
//     whole field decodes as yaz-marcdump decodes its subfields one by one.
//
// Decode never fails: a byte it cannot decode becomes U+FFFD and the
// returned *DecodeError lists every such problem with its offset.
//
// Deliberate differences from yaz (which drops what it cannot decode,
// silently or by abandoning the rest of the input):
//
//   - Undefined bytes and EACC triples become U+FFFD and are reported; yaz
//     drops them silently.
//   - An unknown escape sequence becomes U+FFFD, is reported, and decoding
//     goes on in the same state; yaz stops converting. ESC F other than
//     ESC g, b, p or s is invalid here (ESC N is SS2 in ISO 2022), while yaz
//     takes any such F as a G0 set.
//   - A combining mark with no base (at the end, or before a control
//     character) is kept on U+00A0 and reported; yaz reports the end case
//     and drops the text, and puts a mark before a control on the control.
//   - C0 controls other than ESC, 0x1D-0x1F pass through unchanged; yaz
//     drops them. C1 0x88/0x89/0x8D/0x8E are honored whatever G1 is; yaz
//     reads them through G1 and so only knows them while ANSEL is G1.
//   - The output is NFC; yaz leaves marks decomposed.
//
// # Normalization
//
// The output is in NFC. Rather than calling golang.org/x/text/unicode/norm,
// whose Append allocates a 600-byte buffer per call and costs about 400 ns
// per diacritic, Decode composes each base character and its marks itself
// with tables that internal/gen derives from norm: the combining classes,
// decompositions and compositions reachable from MARC-8 characters. The
// tests check the result against norm.
package marc8

import (
	"encoding/binary"
	"slices"
	"unicode/utf8"
)

//go:generate go run ./internal/gen -xml ../../../shared/reference/marc8/codetables.xml -out tables.go

const (
	esc      = 0x1B
	nbsp     = '\u00A0'
	maxMarks = 16 // combining marks stacked on one base
)

// Decode appends the UTF-8 form of the MARC-8 bytes src to dst and returns it.
// Bytes that cannot be decoded become U+FFFD; err describes every such problem
// (nil when there was none).
//
// A non-nil error is a *DecodeError. The output is in NFC, except that the
// bytes already in dst are never changed. Decode allocates only to grow dst
// (and to record problems).
func Decode(dst, src []byte) ([]byte, error) {
	d := decoder{out: dst, start: len(dst), g0: setASCII, g1: setANSEL}
	d.run(src)
	if d.err == nil {
		return d.out, nil
	}
	// A NoBase problem is found after the problems that follow its mark.
	slices.SortStableFunc(d.err.Problems, func(a, b Problem) int { return a.Offset - b.Offset })
	return d.out, d.err
}

// DecodeString is Decode for a string, returning a new string.
func DecodeString(s string) (string, error) {
	out, err := Decode(make([]byte, 0, len(s)+len(s)/8), []byte(s))
	return string(out), err
}

// decoder holds the state of one Decode call; it lives on the stack.
type decoder struct {
	out    []byte
	start  int // len(out) when Decode was called: out[:start] is the caller's
	g0, g1 charset

	marks    [maxMarks]uint32 // pending combining marks (table entries), in MARC order
	nmarks   int
	markAt   int  // offset of the first pending mark
	markByte byte // its first byte, for NoBase problems

	err *DecodeError
}

func (d *decoder) run(src []byte) {
	i, n := 0, len(src)
	for i < n {
		if d.g0 == setASCII && d.nmarks == 0 {
			// Fast path: copy a run of ASCII as is. Controls other than
			// ESC are included while G1 is ANSEL: then they change nothing.
			var j int
			if d.g1 == setANSEL {
				j = plainSpan(src, i)
			} else {
				j = asciiSpan(src, i)
			}
			d.out = append(d.out, src[i:j]...)
			if i = j; i == n {
				break
			}
		}
		switch b := src[i]; {
		case b == esc:
			i = d.escape(src, i)
		case b < 0x20:
			d.control(b)
			i++
		case b == 0x20:
			d.base(' ', "")
			i++
		case b < 0x7F:
			i = d.graphic(src, i, d.g0, false)
		case b >= 0xA1 && b < 0xFF:
			i = d.graphic(src, i, d.g1, true)
		case b >= 0x80 && b < 0xA0 && c1[b-0x80] != 0:
			d.char(c1[b-0x80], src[i:i+1], i)
			i++
		default: // DEL, undefined C1, 0xA0, 0xFF
			d.undefined(src[i:i+1], i, d.g1, false)
			i++
		}
	}
	d.dangle(false)
}

// asciiSpan returns the end of the run of bytes 0x20-0x7E starting at i.
func asciiSpan(s []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(s) {
		w := binary.LittleEndian.Uint64(s[i:])
		// A byte is in range if its high bit is clear, adding 0x60 sets it
		// (>= 0x20) and adding 1 does not (!= 0x7F). Lanes cannot carry
		// into each other unless some high bit is already set.
		if (w|(w+lo)|^(w+0x60*lo))&hi != 0 {
			break
		}
		i += 8
	}
	for i < len(s) && s[i]-0x20 < 0x5F {
		i++
	}
	return i
}

// plainSpan returns the end of the run of bytes below 0x80 other than ESC
// and DEL starting at i.
func plainSpan(s []byte, i int) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for i+8 <= len(s) {
		w := binary.LittleEndian.Uint64(s[i:])
		// High bit set, DEL (adding 1 sets the high bit) or ESC (a zero
		// lane after XOR). Exact while no lane has its high bit set.
		x := w ^ esc*lo
		if (w|(w+lo)|(x-lo)&^x)&hi != 0 {
			break
		}
		i += 8
	}
	for i < len(s) && s[i] < 0x7F && s[i] != esc {
		i++
	}
	return i
}

// control handles a C0 control byte other than ESC.
func (d *decoder) control(b byte) {
	d.dangle(false)
	d.out = append(d.out, b)
	if b >= 0x1D { // record terminator, field terminator, subfield delimiter
		d.g0, d.g1 = setASCII, setANSEL
	}
}

// graphic decodes the character at src[i] through set s and returns the
// offset after it.
func (d *decoder) graphic(src []byte, i int, s charset, g1 bool) int {
	if s != setEACC {
		e := sbcs[s][src[i]&0x7F-0x21]
		if e == 0 {
			d.undefined(src[i:i+1], i, s, g1)
		} else {
			d.char(e, src[i:i+1], i)
		}
		return i + 1
	}
	// EACC: three bytes from the same half. Bytes 2 and 3 may be a space
	// (0x212320 is the ideographic space), which otherwise ends the char.
	hb := src[i] & 0x80
	k := 1
	for k < 3 && i+k < len(src) && src[i+k]&0x80 == hb && src[i+k]&0x7F >= 0x20 && src[i+k]&0x7F < 0x7F {
		k++
	}
	if k == 3 {
		b1, b2, b3 := src[i]&0x7F, src[i+1]&0x7F, src[i+2]&0x7F
		if utf, r := eaccLookup(b1, b2, b3); utf != "" || r != 0 {
			d.base(r, utf)
			return i + 3
		}
		if b2 != 0x20 && b3 != 0x20 {
			d.undefined(src[i:i+3], i, s, g1)
			return i + 3
		}
	}
	// Truncated: stop before the first space (or the out-of-range byte).
	if k > 1 && src[i+1]&0x7F == 0x20 {
		k = 1
	} else if k > 2 && src[i+2]&0x7F == 0x20 {
		k = 2
	}
	d.problem(Problem{Offset: i, Kind: TruncatedChar, set: s, g1: g1}, src[i:i+k])
	d.base(utf8.RuneError, "")
	return i + k
}

// char handles a decoded single-byte table entry e read from raw at offset at.
func (d *decoder) char(e uint32, raw []byte, at int) {
	switch {
	case e&flagSilent != 0:
	case e&flagCombining != 0:
		if d.nmarks == maxMarks {
			d.dangle(true)
		}
		if d.nmarks == 0 {
			d.markAt, d.markByte = at, raw[0]
		}
		d.marks[d.nmarks] = e
		d.nmarks++
	case e&flagNonStarter != 0:
		d.nonStarter(e)
	case d.nmarks > 0:
		d.cluster(rune(e & runeMask))
	default:
		d.out = utf8.AppendRune(d.out, rune(e&runeMask))
	}
}

// base emits a base character with any pending marks: r, or if utf is
// not empty the character it encodes.
func (d *decoder) base(r rune, utf string) {
	switch {
	case d.nmarks > 0:
		if utf != "" {
			r, _ = utf8.DecodeRuneInString(utf)
		}
		d.cluster(r)
	case utf != "":
		d.out = append(d.out, utf...)
	default:
		d.out = utf8.AppendRune(d.out, r)
	}
}

// undefined emits U+FFFD for raw, read through set s, and records it.
func (d *decoder) undefined(raw []byte, at int, s charset, g1 bool) {
	d.problem(Problem{Offset: at, Kind: Undefined, set: s, g1: g1}, raw)
	d.base(utf8.RuneError, "")
}

// dangle emits pending marks that have no base on U+00A0 and reports
// them; tooMany says they are flushed because the stack is full.
func (d *decoder) dangle(tooMany bool) {
	if d.nmarks == 0 {
		return
	}
	d.problem(Problem{Offset: d.markAt, Kind: NoBase, more: tooMany}, []byte{d.markByte})
	d.cluster(nbsp)
}

// cluster appends base character r and the pending marks in NFC, and
// clears the marks. It is the canonical composition algorithm restricted
// to one base: decompose the base, order the marks by combining class
// (stably, so marks of one class keep their MARC order), then compose
// each mark that is not blocked with the starter. The tables hold every
// decomposition and composition reachable from MARC-8 characters; bases
// are starters that never combine with what precedes them, so text before
// the cluster is unaffected.
func (d *decoder) cluster(r rune) {
	var seq [maxDecompMarks + maxMarks]uint32
	s, dm := decompose(r)
	n := copy(seq[:], dm)
	n += copy(seq[n:], d.marks[:d.nmarks])
	d.nmarks = 0
	for i := 1; i < n; i++ { // insertion sort: n is small
		for j := i; j > 0 && class(seq[j-1]) > class(seq[j]); j-- {
			seq[j-1], seq[j] = seq[j], seq[j-1]
		}
	}
	kept, last := 0, uint8(0) // last: class of the last mark not composed
	for _, m := range seq[:n] {
		if c := class(m); last < c {
			if p, ok := compose(s, rune(m&runeMask)); ok {
				s = p
				continue
			}
		}
		seq[kept] = m
		kept++
		last = class(m)
	}
	d.out = utf8.AppendRune(d.out, s)
	for _, m := range seq[:kept] {
		d.out = utf8.AppendRune(d.out, rune(m&runeMask))
	}
}

// nonStarter appends a character that is not a MARC-8 combining mark but
// is a non-starter in Unicode (U+0670 ARABIC LETTER SUPERSCRIPT ALEF): it
// follows its base in both, but NFC wants it before trailing marks of a
// higher class. It composes with nothing (internal/gen checks).
func (d *decoder) nonStarter(e uint32) {
	d.dangle(false) // marks before it have no base
	c := class(e)
	i := len(d.out)
	for i > d.start {
		r, size := utf8.DecodeLastRune(d.out[d.start:i])
		if classOf(r) <= c {
			break
		}
		i -= size
	}
	var buf [utf8.UTFMax]byte
	k := utf8.EncodeRune(buf[:], rune(e&runeMask))
	d.out = append(d.out, buf[:k]...)
	copy(d.out[i+k:], d.out[i:len(d.out)-k])
	copy(d.out[i:], buf[:k])
}

// escape handles the escape sequence at src[i] and returns the offset
// after it. An invalid or truncated sequence becomes U+FFFD; it is not a
// character, so pending marks wait for the next base.
func (d *decoder) escape(src []byte, i int) int {
	n, j := len(src), i+1
	if j < n {
		switch src[j] { // technique 1: ESC F for the MARC custom G0 sets
		case 'g':
			d.g0 = setGreekSymbols
			return j + 1
		case 'b':
			d.g0 = setSubscripts
			return j + 1
		case 'p':
			d.g0 = setSuperscripts
			return j + 1
		case 's':
			d.g0 = setASCII
			return j + 1
		}
	}
	designate, g1 := false, false
	if j < n && src[j] == '$' { // multibyte; accepted for any set, as in yaz
		designate = true
		j++
	}
	if j < n {
		switch src[j] {
		case '(', ',':
			designate = true
			j++
		case ')', '-':
			designate, g1 = true, true
			j++
		}
	}
	if designate && j < n && src[j] == '!' { // ANSEL's final is !E
		j++
	}
	if j == n {
		d.problem(Problem{Offset: i, Kind: TruncatedEscape}, src[i:])
		d.out = utf8.AppendRune(d.out, utf8.RuneError)
		return n
	}
	if f := src[j]; designate && f < 0x80 && setByFinal[f] != 0 {
		if g1 {
			d.g1 = setByFinal[f] - 1
		} else {
			d.g0 = setByFinal[f] - 1
		}
		return j + 1
	}
	if f := src[j]; f >= 0x21 && f <= 0x7E { // the unknown final byte
		j++
	}
	d.problem(Problem{Offset: i, Kind: InvalidEscape}, src[i:j])
	d.out = utf8.AppendRune(d.out, utf8.RuneError)
	return j
}

// problem records p, whose bytes are raw.
func (d *decoder) problem(p Problem, raw []byte) {
	if d.err == nil {
		d.err = &DecodeError{}
	}
	if len(d.err.Problems) == maxProblems {
		d.err.Omitted++
		return
	}
	p.len = uint8(copy(p.seq[:], raw))
	d.err.Problems = append(d.err.Problems, p)
}
