package marc

import (
	"slices"
	"strconv"
	"unsafe"
)

// Skimmed is a record as Marshal writes it (see Skim and SkimOf), with
// every field located and only some of them decoded. It serves code that
// reads a few fields of many records (a Metadata Import's match keys and
// titles) and merges records field by field (Splice) without decoding and
// encoding them whole: BenchmarkSplice takes about half the time of
// BenchmarkSpliceDecoded, and a skimmed record holds a fraction of the
// memory of a decoded one.
type Skimmed struct {
	// Bytes is the record, ISO 2709 in UTF-8. It is the caller's memory, not
	// a copy, and must not change while the Skimmed is in use.
	Bytes []byte
	// Partial holds the decoded fields, in the record's order, and the
	// leader. It is not the record: encoding it would drop every other field.
	Partial *Record
	fields  []skimField
}

// skimField is one field of a Skimmed record. It holds no pointers, so
// the garbage collector does not scan a record's list of them.
type skimField struct {
	tag     uint32 // the tag's 3 bytes, big-endian: they compare as the tags do
	entry   int32  // the field's directory entry (its index in the record)
	at, n   int32  // the field's data in Bytes, terminator included
	decoded int32  // its index in Partial.Fields, or -1
}

// tagOf packs a 3-byte tag into a skimField's tag.
func tagOf(t []byte) uint32 { return uint32(t[0])<<16 | uint32(t[1])<<8 | uint32(t[2]) }

// tag is the tag of field f as a string sharing s.Bytes (its directory
// entry): for a predicate, not to keep.
func (s *Skimmed) tag(f *skimField) string {
	return unsafe.String(&s.Bytes[leaderLen+dirEntryLen*int(f.entry)], 3)
}

// Skim decodes raw as UnmarshalRaw does, with the same checks. When the
// record's bytes are canonical, it returns them skimmed: the fields whose
// tags want accepts decoded (want must accept the same tags for records
// that will be spliced together). Otherwise it returns the whole record, the
// one UnmarshalRaw returns, and a nil Skimmed: Marshal it and skim the
// result. A canonical record has no warnings, is UTF-8 with leader/09 'a',
// leader/22-23 "00", its directory in data order, and nothing Marshal would
// write differently.
func (d *Decoder) Skim(raw RawRecord, want func(tag string) bool) (*Skimmed, *Record, error) {
	body, err := d.frame(raw)
	if err != nil {
		return nil, nil, err
	}
	pr, err := d.r.parse(body)
	if err != nil {
		return nil, nil, err
	}
	b := raw.Bytes
	if !pr.canonical || len(b) != len(body)+1 || b[len(body)] != recordTerminator {
		rec := new(Record)
		if err := d.r.finish(rec, pr); err != nil {
			return nil, nil, err
		}
		return nil, rec, nil
	}
	return d.r.p.skim(b, body, pr, want), nil, nil
}

// skim builds the Skimmed record of a canonical record parsed from body,
// a copy of b without its terminator; its decoded fields' text is copied to
// the slab, so they do not hold b.
func (p *parser) skim(b, body []byte, pr parsed, want func(string) bool) *Skimmed {
	s := &Skimmed{Bytes: b, Partial: &Record{Leader: pr.leader}, fields: make([]skimField, len(p.fields))}
	nf, ns := 0, 0
	for i := range p.fields {
		f := &p.fields[i]
		e := p.ents[i] // canonical: the entries are the fields, in order
		sf := skimField{tag: tagOf(body[f.tag:]), entry: int32(i), at: int32(pr.data + e.start), n: int32(e.length), decoded: -1}
		if want(s.tag(&sf)) {
			sf.decoded = int32(nf)
			nf++
			ns += f.s1 - f.s0
		}
		s.fields[i] = sf
	}
	if nf == 0 {
		return s
	}
	fields := p.slab.fields(nf)
	subs := p.slab.subfields(ns)
	for i := range s.fields {
		sf := &s.fields[i]
		if sf.decoded < 0 {
			continue
		}
		f := &p.fields[i]
		text := p.slab.text(body[f.v0:f.v1])
		var tag string
		if f.num >= 0 {
			tag = tagDigits[3*f.num : 3*f.num+3]
		} else { // letters and digits (canonical: never sanitized)
			tag = string(body[f.tag : f.tag+3])
		}
		out := Field{Tag: tag}
		if f.control {
			out.Value = text
		} else {
			out.Ind1, out.Ind2 = f.ind1, f.ind2
			n := f.s1 - f.s0
			for j, sp := range p.subs[f.s0:f.s1] {
				subs[j] = Subfield{Code: sp.code, Value: text[sp.v0-f.v0 : sp.v1-f.v0]}
			}
			out.Subfields, subs = subs[:n:n], subs[n:]
		}
		fields[sf.decoded] = out
	}
	s.Partial.Fields = fields
	return s
}

// Splice returns the record made of base's fields but those fromOther
// accepts, and then other's fields that fromOther accepts, each inserted
// after the last field whose tag sorts before or equal to its own (as
// Record.AddField does), under base's leader: the bytes Marshal writes for
// that record, without decoding or encoding either. base and other must be
// skimmed for the same tags. A result longer than ISO 2709 allows is an
// *Error wrapping ErrRecordTooLong, as Marshal's.
func Splice(base, other *Skimmed, fromOther func(tag string) bool) (*Skimmed, error) {
	// The fields in order; those from other marked by an entry of -1-entry.
	fields := make([]skimField, 0, len(base.fields)+8)
	for i := range base.fields {
		if f := &base.fields[i]; !fromOther(base.tag(f)) {
			fields = append(fields, *f)
		}
	}
	for i := range other.fields {
		f := other.fields[i]
		if !fromOther(other.tag(&f)) {
			continue
		}
		at := len(fields)
		for at > 0 && fields[at-1].tag > f.tag {
			at--
		}
		f.entry = -1 - f.entry
		fields = slices.Insert(fields, at, f)
	}
	src := func(f *skimField) (*Skimmed, int) {
		if f.entry < 0 {
			return other, int(-1 - f.entry)
		}
		return base, int(f.entry)
	}
	dataLen, decoded := 0, 0
	for i := range fields {
		dataLen += int(fields[i].n)
		if fields[i].decoded >= 0 {
			decoded++
		}
	}
	baseAddr := leaderLen + dirEntryLen*len(fields) + 1
	total := baseAddr + dataLen + 1
	out := &Skimmed{Partial: &Record{Leader: base.Partial.Leader, Fields: make([]Field, 0, decoded)}, fields: fields}
	for i := range fields {
		if f := &fields[i]; f.decoded >= 0 {
			s, _ := src(f)
			out.Partial.Fields = append(out.Partial.Fields, s.Partial.Fields[f.decoded])
		}
	}
	if total > maxRecordLen {
		return nil, &Error{Ordinal: 1, ID: out.Partial.ControlNumber(), Err: ErrRecordTooLong,
			Msg: "record would be " + strconv.Itoa(total) + " bytes; ISO 2709 allows " + strconv.Itoa(maxRecordLen)}
	}
	b := make([]byte, total)
	copy(b, base.Bytes[:leaderLen])
	putDigits(b[0:5], total)
	putDigits(b[12:17], baseAddr)
	dir, at, d := leaderLen, baseAddr, int32(0)
	for i := range fields {
		f := &fields[i]
		s, entry := src(f)
		// The tag and length as the field's own directory entry has them.
		copy(b[dir:dir+7], s.Bytes[leaderLen+dirEntryLen*entry:])
		putDigits(b[dir+7:dir+12], at-baseAddr)
		copy(b[at:], s.Bytes[f.at:f.at+f.n])
		f.entry, f.at = int32(i), int32(at)
		if f.decoded >= 0 {
			f.decoded, d = d, d+1
		}
		dir += dirEntryLen
		at += int(f.n)
	}
	b[dir] = fieldTerminator
	b[at] = recordTerminator
	copy(out.Partial.Leader[:], b[:leaderLen])
	out.Bytes = b
	return out, nil
}

// SkimOf encodes rec with Marshal and returns the result skimmed for the
// tags want accepts, for a record that is not canonical as read (or is
// built, not read): each field is where Marshal put it, and decoded as rec
// has it (indicators 0 as the blanks Marshal writes). Marshal's errors are
// its errors.
func SkimOf(rec *Record, want func(tag string) bool) (*Skimmed, error) {
	b, err := Marshal(rec)
	if err != nil {
		return nil, err
	}
	s := &Skimmed{Bytes: b, Partial: &Record{}, fields: make([]skimField, len(rec.Fields))}
	copy(s.Partial.Leader[:], b[:leaderLen])
	at := leaderLen + dirEntryLen*len(rec.Fields) + 1
	for i := range rec.Fields {
		f := &rec.Fields[i]
		n := encodedLen(f)
		s.fields[i] = skimField{tag: tagOf([]byte(f.Tag)), entry: int32(i), at: int32(at), n: int32(n), decoded: -1}
		at += n
		if want(f.Tag) {
			s.fields[i].decoded = int32(len(s.Partial.Fields))
			g := *f
			if !writtenAsControl(f) {
				g.Ind1, g.Ind2 = blankIfZero(g.Ind1), blankIfZero(g.Ind2)
			}
			s.Partial.Fields = append(s.Partial.Fields, g)
		}
	}
	return s, nil
}
