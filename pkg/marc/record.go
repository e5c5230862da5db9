// Package marc reads and writes MARC 21 records: ISO 2709 binary and MARCXML.
//
// Readers are streaming and lenient: a record whose lengths or directory lie is
// recovered from its terminators and carries warnings; a record that cannot be
// recovered is reported as an *Error and the reader goes on to the next one.
package marc

import (
	"bytes"
	"iter"
	"slices"
)

// Leader is the 24-byte record leader.
type Leader [24]byte

// Record is one MARC record: a leader and its fields in file order.
type Record struct {
	Leader Leader
	Fields []Field
	// Warnings are the problems the reader recovered from; each is an *Error.
	Warnings []error
}

// Field is a control field (tag 001-009: Value set) or a data field
// (indicators and subfields set).
type Field struct {
	Tag       string
	Value     string // control fields only
	Ind1      byte   // data fields only
	Ind2      byte   // data fields only
	Subfields []Subfield
}

// Subfield is one coded value of a data field.
type Subfield struct {
	Code  byte
	Value string
}

// IsControl reports whether the field is a control field (tag 00X).
func (f *Field) IsControl() bool {
	return len(f.Tag) == 3 && f.Tag[0] == '0' && f.Tag[1] == '0'
}

// ControlNumber returns the value of the record's first 001 field, or "".
func (r *Record) ControlNumber() string {
	if f := r.FirstField("001"); f != nil {
		return f.Value
	}
	return ""
}

// FirstField returns the first field with the tag, or nil. The pointer refers into
// r.Fields and is valid until the fields are next added or removed.
func (r *Record) FirstField(tag string) *Field {
	for i := range r.Fields {
		if r.Fields[i].Tag == tag {
			return &r.Fields[i]
		}
	}
	return nil
}

// FieldsByTag returns the fields whose tag is one of tags, in record order; with no
// tags it returns every field. The pointers refer into r.Fields and are valid until
// the fields are next added or removed.
func (r *Record) FieldsByTag(tags ...string) []*Field {
	var out []*Field
	for f := range r.FieldsSeq(tags...) {
		out = append(out, f)
	}
	return out
}

// FieldsSeq iterates, without allocating, over the fields whose tag is one of tags
// (every field when there are none), in record order.
func (r *Record) FieldsSeq(tags ...string) iter.Seq[*Field] {
	return func(yield func(*Field) bool) {
		for i := range r.Fields {
			if (len(tags) == 0 || slices.Contains(tags, r.Fields[i].Tag)) && !yield(&r.Fields[i]) {
				return
			}
		}
	}
}

// AddField inserts f after the last field whose tag sorts at or before f's tag
// (byte order), so a record whose fields are in tag order stays in tag order and f
// follows any existing fields with the same tag. A field whose tag sorts before
// every other goes first.
func (r *Record) AddField(f Field) {
	i := len(r.Fields)
	for i > 0 && r.Fields[i-1].Tag > f.Tag {
		i--
	}
	r.Fields = slices.Insert(r.Fields, i, f)
}

// RemoveFields removes every field whose tag is one of tags and returns how many it
// removed.
func (r *Record) RemoveFields(tags ...string) int {
	n := len(r.Fields)
	r.Fields = slices.DeleteFunc(r.Fields, func(f Field) bool { return slices.Contains(tags, f.Tag) })
	return n - len(r.Fields)
}

// ReplaceField replaces the field old, which must point into r.Fields (as returned
// by FirstField, FieldsByTag or FieldsSeq), with f in the same position. It reports
// false, changing nothing, when old is not one of r's fields.
func (r *Record) ReplaceField(old *Field, f Field) bool {
	for i := range r.Fields {
		if &r.Fields[i] == old {
			r.Fields[i] = f
			return true
		}
	}
	return false
}

// FirstSubfield returns the value of the field's first subfield with the code and
// whether there was one.
func (f *Field) FirstSubfield(code byte) (string, bool) {
	for _, s := range f.Subfields {
		if s.Code == code {
			return s.Value, true
		}
	}
	return "", false
}

// SubfieldValues returns the values of the subfields whose code is one of codes (of
// every subfield when there are none), in field order.
func (f *Field) SubfieldValues(codes ...byte) []string {
	var out []string
	for _, s := range f.Subfields {
		if len(codes) == 0 || bytes.IndexByte(codes, s.Code) >= 0 {
			out = append(out, s.Value)
		}
	}
	return out
}

// AddSubfield appends a subfield.
func (f *Field) AddSubfield(code byte, value string) {
	f.Subfields = append(f.Subfields, Subfield{Code: code, Value: value})
}

// RemoveSubfields removes every subfield whose code is one of codes and returns how
// many it removed.
func (f *Field) RemoveSubfields(codes ...byte) int {
	n := len(f.Subfields)
	f.Subfields = slices.DeleteFunc(f.Subfields, func(s Subfield) bool { return bytes.IndexByte(codes, s.Code) >= 0 })
	return n - len(f.Subfields)
}

// SetSubfield sets the value of the field's first subfield with the code, leaving
// any later ones with the same code alone, or appends a subfield when there is none.
func (f *Field) SetSubfield(code byte, value string) {
	for i := range f.Subfields {
		if f.Subfields[i].Code == code {
			f.Subfields[i].Value = value
			return
		}
	}
	f.AddSubfield(code, value)
}
