// Package marc reads and writes MARC 21 records: ISO 2709 binary and MARCXML.
//
// Readers are streaming and lenient: a record whose lengths or directory lie is
// recovered from its terminators and carries warnings; a record that cannot be
// recovered is reported as an *Error and the reader goes on to the next one.
package marc

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
