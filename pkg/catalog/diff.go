package catalog

import (
	"sort"
	"strings"

	"github.com/bindery/bindery/pkg/marc"
)

// FieldString renders a field on one line: "001 ocm123", "245 10 $aTitle $cBy".
func FieldString(f *marc.Field) string {
	if f.IsControl() || (f.Value != "" && len(f.Subfields) == 0) {
		return f.Tag + " " + f.Value
	}
	var b strings.Builder
	b.WriteString(f.Tag)
	b.WriteByte(' ')
	for _, c := range []byte{f.Ind1, f.Ind2} {
		if c == 0 || c == ' ' {
			c = '_'
		}
		b.WriteByte(c)
	}
	for _, sf := range f.Subfields {
		b.WriteString(" $")
		b.WriteByte(sf.Code)
		b.WriteString(sf.Value)
	}
	return b.String()
}

// Diff is the field-level difference from a record to another: the fields
// only in from ("-" lines) and only in to ("+" lines), counting repeats,
// in tag order (removals before additions within a tag). Equal records give
// nothing.
func Diff(from, to *marc.Record) []string {
	count := map[string]int{}
	for i := range to.Fields {
		count[FieldString(&to.Fields[i])]++
	}
	type line struct {
		tag, text string
		add       bool
	}
	var out []line
	for i := range from.Fields {
		s := FieldString(&from.Fields[i])
		if count[s] > 0 {
			count[s]--
			continue
		}
		out = append(out, line{from.Fields[i].Tag, "-" + s, false})
	}
	for i := range to.Fields {
		s := FieldString(&to.Fields[i])
		if count[s] > 0 {
			count[s]--
			out = append(out, line{to.Fields[i].Tag, "+" + s, true})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].tag != out[j].tag {
			return out[i].tag < out[j].tag
		}
		return !out[i].add && out[j].add
	})
	s := make([]string, len(out))
	for i, l := range out {
		s[i] = l.text
	}
	return s
}
