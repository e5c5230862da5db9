package marc

import "unsafe"

// slab hands out the text, fields and subfields of the records Read returns
// from a few large blocks instead of three allocations per record: reading
// allocates about once per hundred records. A block stays alive while any
// record cut from it does (at most slabText bytes per retained record).
// Handed-out pieces are capped, so appending to a record's Fields or a
// field's Subfields copies rather than writing into a neighbour.
type slab struct {
	buf  []byte // unused tail of the current text block; never rewritten
	flds []Field
	subs []Subfield
	// Sizes of the last blocks: each new block doubles up to the slab
	// constants, so a reader of one record (Unmarshal) allocates what that
	// record needs, not a block for hundreds.
	textN, fldN, subN int
}

// slabBlock is the next block size: double the last, at least need, at most
// limit unless need is more.
func slabBlock(last *int, need, limit int) int {
	n := min(max(2*(*last), need), max(limit, need))
	*last = n
	return n
}

const (
	slabText      = 256 << 10
	slabFields    = 4096
	slabSubfields = 16384
)

// text copies b into the slab and returns it as a string sharing the slab's
// memory. Safe because those bytes are never written again.
func (s *slab) text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > cap(s.buf)-len(s.buf) {
		s.buf = make([]byte, 0, slabBlock(&s.textN, len(b), slabText))
	}
	off := len(s.buf)
	s.buf = append(s.buf, b...)
	return unsafe.String(&s.buf[off], len(b))
}

func (s *slab) fields(n int) []Field {
	if n == 0 {
		return nil
	}
	if n > len(s.flds) {
		s.flds = make([]Field, slabBlock(&s.fldN, n, slabFields))
	}
	out := s.flds[:n:n]
	s.flds = s.flds[n:]
	return out
}

func (s *slab) subfields(n int) []Subfield {
	if n == 0 {
		return nil
	}
	if n > len(s.subs) {
		s.subs = make([]Subfield, slabBlock(&s.subN, n, slabSubfields))
	}
	out := s.subs[:n:n]
	s.subs = s.subs[n:]
	return out
}
