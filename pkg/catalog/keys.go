// Package catalog is what every job on catalog records shares: the match
// keys extracted from a MARC record (and their normalization), its display
// title, and merging two versions of a record by tag rules.
package catalog

import (
	"strings"

	"github.com/bindery/bindery/pkg/marc"
)

// Key kinds, as stored in record_keys.kind and named in import profiles.
const (
	Key001  = "001"
	Key035  = "035"
	KeyISBN = "isbn"
	KeyISSN = "issn"
)

// Key is one match key of a record.
type Key struct {
	Kind, Value string
}

// Keys returns the record's match keys, without duplicates: 001 with its 003
// ("003|001"), each 035 $a normalized, each 020 $a as ISBN-13 and each 022 $a
// as an ISSN. Values that do not normalize are left out.
func Keys(rec *marc.Record) []Key {
	out := make([]Key, 0, 4)
	add := func(kind, value string) {
		if value == "" {
			return
		}
		for _, k := range out {
			if k.Kind == kind && k.Value == value {
				return
			}
		}
		out = append(out, Key{kind, value})
	}
	add(Key001, ControlKey(rec))
	for i := range rec.Fields {
		f := &rec.Fields[i]
		if f.Tag != "035" && f.Tag != "020" && f.Tag != "022" {
			continue
		}
		for _, sf := range f.Subfields {
			if sf.Code != 'a' {
				continue
			}
			switch f.Tag {
			case "035":
				add(Key035, NormalizeSystemNumber(sf.Value))
			case "020":
				add(KeyISBN, NormalizeISBN(sf.Value))
			case "022":
				add(KeyISSN, NormalizeISSN(sf.Value))
			}
		}
	}
	return out
}

// ControlKey is the record's 001 qualified by its 003 ("003|001"; "|001"
// without a 003), or "" when it has no 001.
func ControlKey(rec *marc.Record) string {
	id := strings.TrimSpace(rec.ControlNumber())
	if id == "" {
		return ""
	}
	org := ""
	if f := rec.FirstField("003"); f != nil {
		org = strings.ToUpper(strings.TrimSpace(f.Value))
	}
	return org + "|" + id
}

// NormalizeSystemNumber normalizes a 035 $a: white space removed, the
// organization prefix "(...)" upper-cased, and for OCLC numbers
// ("(OCoLC)ocm00012345", "(OCoLC)ocn...", "(OCoLC)on...") the letters and
// leading zeros dropped, so every spelling of one OCLC number is one key.
func NormalizeSystemNumber(s string) string {
	if hasSpace(s) {
		s = strings.Join(strings.Fields(s), "")
	}
	if s == "" {
		return ""
	}
	prefix, num := "", s
	if strings.HasPrefix(s, "(") {
		if i := strings.IndexByte(s, ')'); i > 0 {
			prefix, num = strings.ToUpper(s[:i+1]), s[i+1:]
		}
	}
	if prefix == "(OCOLC)" {
		num = strings.TrimLeft(strings.ToLower(num), "ocmn")
		num = strings.TrimLeft(num, "0")
	}
	if num == "" {
		return ""
	}
	return prefix + num
}

// hasSpace says whether s may hold white space (strings.Fields' kind): an
// ASCII space character, or any non-ASCII byte.
func hasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x80 {
			return true
		}
	}
	return false
}

// NormalizeISBN returns the ISBN-13 of the ISBN at the start of s (a 020 $a
// such as "0-316-06625-X (pbk.)"), or "" when there is no valid one.
func NormalizeISBN(s string) string {
	var buf [16]byte
	d := buf[:0]
	for i := 0; i < len(s) && len(d) < 13; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			d = append(d, c)
		case (c == 'X' || c == 'x') && len(d) == 9:
			d = append(d, 'X')
		case c == '-' || c == ' ' && len(d) == 0:
		default:
			i = len(s)
		}
		if len(d) == 10 && d[9] == 'X' {
			break
		}
	}
	switch {
	case len(d) >= 13 && d[9] != 'X':
		d = d[:13]
		if isbn13Check(d[:12]) != d[12] {
			return ""
		}
		return string(d)
	case len(d) >= 10:
		d = d[:10]
		if isbn10Check(d[:9]) != d[9] {
			return ""
		}
		d13 := append([]byte("978"), d[:9]...)
		return string(append(d13, isbn13Check(d13)))
	}
	return ""
}

func isbn10Check(d []byte) byte {
	sum := 0
	for i, c := range d {
		sum += (10 - i) * int(c-'0')
	}
	r := (11 - sum%11) % 11
	if r == 10 {
		return 'X'
	}
	return byte('0' + r)
}

func isbn13Check(d []byte) byte {
	sum := 0
	for i, c := range d {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		sum += w * int(c-'0')
	}
	return byte('0' + (10-sum%10)%10)
}

// NormalizeISSN returns the ISSN at the start of s as "NNNN-NNNC", or ""
// when there is no valid one.
func NormalizeISSN(s string) string {
	var buf [16]byte
	d := buf[:0]
	for i := 0; i < len(s) && len(d) < 8; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			d = append(d, c)
		case (c == 'X' || c == 'x') && len(d) == 7:
			d = append(d, 'X')
		case c == '-' || c == ' ' && len(d) == 0:
		default:
			i = len(s)
		}
	}
	if len(d) != 8 {
		return ""
	}
	sum := 0
	for i := 0; i < 7; i++ {
		sum += (8 - i) * int(d[i]-'0')
	}
	r := (11 - sum%11) % 11
	check := byte('0' + r)
	if r == 10 {
		check = 'X'
	}
	if d[7] != check {
		return ""
	}
	return string(d[:4]) + "-" + string(d[4:])
}

// Title is the record's display title: 245 $a and $b, without the trailing
// ReadsTag says whether Keys, ControlKey, Title or Heading read the fields
// of this tag: a record skimmed for these tags (marc.Decoder.Skim) has the
// whole record's keys, title and heading.
func ReadsTag(tag string) bool {
	switch tag {
	case "001", "003", "020", "022", "035", "245":
		return true
	}
	return len(tag) == 3 && tag[0] == '1'
}

// ISBD punctuation.
func Title(rec *marc.Record) string {
	f := rec.FirstField("245")
	if f == nil {
		return ""
	}
	return display(f, func(code byte) bool { return code == 'a' || code == 'b' })
}

// Heading is an authority record's heading: its first 1XX field's
// subfields, or "" when it has none.
func Heading(rec *marc.Record) string {
	for i := range rec.Fields {
		f := &rec.Fields[i]
		if len(f.Tag) == 3 && f.Tag[0] == '1' && !f.IsControl() {
			return display(f, func(byte) bool { return true })
		}
	}
	return ""
}

// display joins the words of the field's subfields with the codes, one
// space between words, without trailing ISBD punctuation. In one pass: a
// Metadata Import takes the title of every record it writes.
func display(f *marc.Field, code func(byte) bool) string {
	n := 0
	for _, sf := range f.Subfields {
		if code(sf.Code) {
			n += len(sf.Value) + 1
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, sf := range f.Subfields {
		if !code(sf.Code) {
			continue
		}
		for w := range strings.FieldsSeq(sf.Value) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(w)
		}
	}
	return strings.TrimRight(b.String(), " /:;,=.")
}
