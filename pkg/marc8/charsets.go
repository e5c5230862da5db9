package marc8

import "slices"

// A charset is one of the MARC-8 graphic character sets; the values are
// generated in tables.go.
type charset uint8

// Layout of a single-byte table entry (see sbcs and c1). It must match
// internal/gen.
const (
	runeMask       = 1<<21 - 1 // bits 0-20: the rune
	cccShift       = 21        // bits 21-28: canonical combining class
	flagSilent     = 1 << 29   // defined but produces no output (second halves of double diacritics)
	flagNonStarter = 1 << 30   // a non-starter that follows its base, as in Unicode
	flagCombining  = 1 << 31   // combining mark: MARC-8 puts it before its base
	maxDecompMarks = 3         // marks in a base character's decomposition
)

// class returns the canonical combining class stored in entry e.
func class(e uint32) uint8 { return uint8(e >> cccShift) }

// A decomposition is the canonical decomposition of a base character: a
// starter and up to maxDecompMarks marks (entries with their class).
type decomposition struct {
	r, starter rune
	marks      [maxDecompMarks]uint32
}

// A composition maps starter<<21 | mark to their canonical composite.
type composition struct {
	key uint64
	r   rune
}

// decompose returns the decomposition of base character r: r itself and
// no marks unless it is in decompositions.
func decompose(r rune) (starter rune, marks []uint32) {
	if r < decompositions[0].r { // most bases: ASCII letters
		return r, nil
	}
	i, ok := slices.BinarySearchFunc(decompositions[:], r, func(d decomposition, r rune) int { return int(d.r - r) })
	if !ok {
		return r, nil
	}
	d := &decompositions[i]
	n := 0
	for n < maxDecompMarks && d.marks[n] != 0 {
		n++
	}
	return d.starter, d.marks[:n]
}

// compose returns the canonical composite of starter s and mark m.
func compose(s, m rune) (rune, bool) {
	key := uint64(s)<<21 | uint64(m)
	i, ok := slices.BinarySearchFunc(compositions[:], key, func(c composition, k uint64) int {
		switch {
		case c.key < k:
			return -1
		case c.key > k:
			return 1
		}
		return 0
	})
	if !ok {
		return 0, false
	}
	return compositions[i].r, true
}

// classOf returns the canonical combining class of r, a character the
// decoder may have emitted: non-zero only for the runes in markClasses.
func classOf(r rune) uint8 {
	i, ok := slices.BinarySearchFunc(markClasses[:], r, func(e uint32, r rune) int { return int(rune(e>>8) - r) })
	if !ok {
		return 0
	}
	return uint8(markClasses[i])
}

// eaccWideMarker stands in eaccRunes for a rune listed in eaccWide.
const eaccWideMarker = "\uFFFF"

// eaccLookup returns the UTF-8 form of the EACC character whose G0 position
// bytes are b1 b2 b3 (b1 and b2 0x21-0x7E, b3 0x20-0x7E), or "" and the
// rune for the few runes outside the 3-byte UTF-8 range, or "" and zero
// when it is undefined.
func eaccLookup(b1, b2, b3 byte) (utf string, r rune) {
	p := int(eaccPlane[b1-0x21])
	if p == 0 || b2 < 0x21 {
		return "", 0
	}
	row := 95*(p-1) + int(b2-0x21)
	lo, n := int(eaccRows[row]), int(eaccRows[row+1]-eaccRows[row])
	if n == 0 {
		return "", 0
	}
	for n > 1 { // branch-free binary search on the third byte
		half := n >> 1
		if eaccKeys[3*(lo+half)+2] <= b3 {
			lo += half
		}
		n -= half
	}
	if eaccKeys[3*lo+2] != b3 {
		return "", 0
	}
	s := eaccRunes[3*lo : 3*lo+3]
	if s != eaccWideMarker {
		return s, 0
	}
	key := uint32(b1)<<16 | uint32(b2)<<8 | uint32(b3)
	for _, w := range eaccWide {
		if w.key == key {
			return "", w.r
		}
	}
	return "", 0 // unreachable with generated tables
}
