package marc

import "slices"

// RawRecord is one record of a binary stream as framed, not parsed: what
// ReadRaw returns, and what Decoder.UnmarshalRaw turns into the record Read
// would have returned.
type RawRecord struct {
	// Bytes are the record's bytes as they are in the input, junk before its
	// leader left out, ending in exactly one record terminator (added when
	// the input lacked it). They are valid until the reader's next call.
	Bytes []byte
	// Ordinal is the record's 1-based position in the input, as Read counts.
	Ordinal int
	// Offset is where the record's first byte (Bytes[0]) is in the input.
	Offset int64
	// Warnings are what framing it found: junk before the leader, a missing
	// terminator. Read returns them first among the record's warnings.
	Warnings []*Error
}

// ReadRaw returns the next record's bytes without parsing its fields: it
// finds the record exactly as Read does (stray bytes between records, junk
// before the leader, two records run together, a missing terminator) and
// fails where framing fails, with the same *Error, ErrRecordTooLong included.
// Decoder.UnmarshalRaw of what it returns gives the record Read would give,
// or the error Read would return (a record with no directory is framed, and
// fails only when decoded). Returns io.EOF at the end of the input.
func (r *BinaryReader) ReadRaw() (RawRecord, error) {
	body, err := r.next()
	if err != nil {
		return RawRecord{}, err
	}
	raw := RawRecord{Ordinal: r.ordinal, Offset: r.p.off, Warnings: slices.Clone(r.p.warns)}
	// The record terminator follows body in the input when the record had one
	// (readChunk's slice holds no other), so most records are not copied.
	if len(body) < cap(body) && body[:len(body)+1][len(body)] == recordTerminator {
		raw.Bytes = body[:len(body)+1]
	} else {
		r.rawBuf = append(append(r.rawBuf[:0], body...), recordTerminator)
		raw.Bytes = r.rawBuf
	}
	return raw, nil
}

// prependWarnings puts copies of ws (framing warnings found earlier) before
// the warnings the parser holds, as Read would have them.
func (p *parser) prependWarnings(ws []*Error) {
	if len(ws) == 0 {
		return
	}
	found := len(p.warns)
	for _, w := range ws {
		c := *w
		p.warns = append(p.warns, &c)
	}
	// Rotate the copies to the front.
	slices.Reverse(p.warns[:found])
	slices.Reverse(p.warns[found:])
	slices.Reverse(p.warns)
}
