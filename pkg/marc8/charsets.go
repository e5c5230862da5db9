package marc8

// A charset is one of the MARC-8 graphic character sets; the values are
// generated in tables.go.
type charset uint8

// Flag bits of a single-byte table entry (see sbcs and c1); the low 21 bits
// hold the rune. They must match internal/gen.
const (
	flagCombining = 1 << 31 // combining mark: MARC-8 puts it before its base
	flagCompose   = 1 << 30 // not NFC-inert: route through the normalizer
	flagSilent    = 1 << 29 // defined but produces no output (second halves of double diacritics)
	runeMask      = 1<<21 - 1
)

// eaccWideMarker stands in eaccRunes for a rune listed in eaccWide.
const eaccWideMarker = "\uFFFF"

// eaccLookup returns the UTF-8 form of the EACC character whose G0 position
// bytes are b1 b2 b3 (each 0x21-0x7E), or "" when it is undefined. The
// result is a substring of eaccRunes except for the few runes outside the
// 3-byte UTF-8 range.
func eaccLookup(b1, b2, b3 byte) (utf string, r rune) {
	lo, hi := int(eaccFirst[b1-0x21]), int(eaccFirst[b1-0x20])
	for lo < hi { // binary search on bytes 2 and 3 within the first-byte group
		m := int(uint(lo+hi) >> 1)
		k := eaccKeys[3*m:]
		if k[1] < b2 || (k[1] == b2 && k[2] < b3) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == int(eaccFirst[b1-0x20]) {
		return "", 0
	}
	k := eaccKeys[3*lo:]
	if k[1] != b2 || k[2] != b3 {
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
