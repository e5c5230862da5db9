package query

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/bindery/bindery/pkg/marc"
)

// Match decides the query for one candidate record: leaves holds the value of
// each SQL condition (LeafColumns, in order) for the record, raw is its
// stored MARC (ISO 2709, UTF-8). It reads only the fields the query names.
func (q *Query) Match(leaves []bool, raw []byte) (bool, error) {
	if len(leaves) != q.nsql {
		return false, fmt.Errorf("query: %d SQL condition values for %d conditions", len(leaves), q.nsql)
	}
	m := matcher{leaves: leaves, raw: raw}
	ok := m.eval(q.root)
	return ok, m.err
}

type matcher struct {
	leaves []bool
	raw    []byte
	rec    *rawRecord
	err    error
}

func (m *matcher) eval(n Node) bool {
	switch n := n.(type) {
	case andNode:
		return m.eval(n.l) && m.eval(n.r)
	case orNode:
		return m.eval(n.l) || m.eval(n.r)
	case notNode:
		return !m.eval(n.x)
	case allNode:
		return true
	case marcCond:
		if m.rec == nil {
			m.rec, m.err = readRaw(m.raw)
		}
		if m.err != nil {
			return false
		}
		return n.match(m.rec)
	default:
		i, _ := sqlLeafOf(n)
		return m.leaves[i]
	}
}

func (c marcCond) match(r *rawRecord) bool {
	if c.tag == "LDR" {
		return c.matchPositions(r.b[:24])
	}
	found := false
	r.fields(c.tag, func(data []byte) bool {
		if c.from >= 0 || c.tag < "010" {
			found = c.matchPositions(data)
			return !found
		}
		if c.op == "exists" && c.code == 0 {
			found = true
			return false
		}
		// Data field: indicators, then subfields each led by 0x1F.
		subs := data
		if i := bytes.IndexByte(subs, 0x1F); i >= 0 {
			subs = subs[i:]
		} else {
			subs = nil
		}
		for len(subs) > 1 {
			subs = subs[1:]
			end := bytes.IndexByte(subs, 0x1F)
			if end < 0 {
				end = len(subs)
			}
			sf := subs[:end]
			subs = subs[end:]
			if len(sf) == 0 || (c.code != 0 && sf[0] != c.code) {
				continue
			}
			if c.matchValue(sf[1:]) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// matchPositions compares a control field (or the leader), or the positions
// of it the condition names, exactly.
func (c marcCond) matchPositions(data []byte) bool {
	if c.op == "exists" {
		return true
	}
	if c.from >= 0 {
		if c.to >= len(data) {
			return false
		}
		data = data[c.from : c.to+1]
	} else {
		return c.matchValue(data)
	}
	if c.op == "contains" {
		return bytes.Contains(data, []byte(c.value))
	}
	return string(data) == c.value
}

func (c marcCond) matchValue(v []byte) bool {
	switch c.op {
	case "exists":
		return true
	case "contains":
		return strings.Contains(fold(string(v)), c.folded)
	default:
		return normalizeEq(string(v)) == c.folded
	}
}

// fold is how "contains" compares: Unicode NFC, lower case.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.ToLower(norm.NFC.String(s))
		}
	}
	return strings.ToLower(s)
}

// normalizeEq is how "=" compares subfield values: folded, with surrounding
// white space and the trailing ISBD punctuation (" /:;,=.") dropped, so
// 650 $a = "Jazz" matches "Jazz.".
func normalizeEq(s string) string {
	return strings.TrimRight(strings.TrimSpace(fold(s)), " /:;,=.")
}

// rawRecord is a stored ISO 2709 record, read in place: its directory is
// walked for the tags a condition names, without decoding other fields.
type rawRecord struct {
	b    []byte
	base int
	dir  []byte
}

// readRaw checks the record's frame. A stored record is what marc.Marshal
// wrote, so this only fails on damage; such a record is then decoded by the
// lenient reader and written again, and only if that fails too is it an error.
func readRaw(b []byte) (*rawRecord, error) {
	if r, ok := frame(b); ok {
		return r, nil
	}
	rec, err := marc.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("stored record cannot be read: %w", err)
	}
	b2, err := marc.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("stored record cannot be read: %w", err)
	}
	if r, ok := frame(b2); ok {
		return r, nil
	}
	return nil, fmt.Errorf("stored record cannot be read: directory out of bounds")
}

func frame(b []byte) (*rawRecord, bool) {
	if len(b) < 25 {
		return nil, false
	}
	base, ok := digits(b[12:17])
	if !ok || base < 25 || base > len(b) {
		return nil, false
	}
	dir := b[24 : base-1]
	if b[base-1] != 0x1E || len(dir)%12 != 0 {
		return nil, false
	}
	r := &rawRecord{b: b, base: base, dir: dir}
	for e := 0; e < len(dir); e += 12 {
		n, ok1 := digits(dir[e+3 : e+7])
		start, ok2 := digits(dir[e+7 : e+12])
		if !ok1 || !ok2 || base+start+n > len(b) {
			return nil, false
		}
	}
	return r, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// fields calls f with the data of each field with the tag, without its
// field terminator, until f returns false.
func (r *rawRecord) fields(tag string, f func(data []byte) bool) {
	for e := 0; e < len(r.dir); e += 12 {
		if string(r.dir[e:e+3]) != tag {
			continue
		}
		n, _ := digits(r.dir[e+3 : e+7])
		start, _ := digits(r.dir[e+7 : e+12])
		data := r.b[r.base+start : r.base+start+n]
		if len(data) > 0 && data[len(data)-1] == 0x1E {
			data = data[:len(data)-1]
		}
		if !f(data) {
			return
		}
	}
}
