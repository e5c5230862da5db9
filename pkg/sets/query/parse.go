// Package query is the language of logical sets: a saved search over an
// institution's catalog records, compiled to parameterized SQL and, for MARC
// field conditions, checked against each candidate record's fields.
//
//	650 $a contains "Jazz" AND NOT suppressed
//	(isbn = "0-316-06625-X" OR 035 = "(OCoLC)12345") AND created >= 2024-01-01
//	title contains "blue note" AND updated < 2025-06-01 AND LDR/06 = "j"
//
// docs/sets.md is the reference of the grammar.
package query

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bindery/bindery/pkg/catalog"
)

// Node is one node of a parsed query.
type Node interface{ isNode() }

type (
	andNode struct{ l, r Node }
	orNode  struct{ l, r Node }
	notNode struct{ x Node }
	// allNode matches every record ("all").
	allNode struct{}
	// keyCond matches a match key of the record (record_keys), normalized
	// like Metadata Import's keys. bare001 is a 001 without its 003: it
	// matches the 001 whatever the 003.
	keyCond struct {
		leaf
		kind, value string
		bare001     bool
	}
	// titleCond: every word is a word of the record's title.
	titleCond struct {
		leaf
		words string
	}
	typeCond struct {
		leaf
		typ string
	}
	// dateCond compares created_at or updated_at. A date alone (no time)
	// is a whole day in the institution's time zone.
	dateCond struct {
		leaf
		column string
		op     string
		day    bool
		y      int
		m      time.Month
		d      int
		at     time.Time // !day
	}
	suppressedCond struct {
		leaf
		v bool
	}
	// marcCond is a MARC field condition, checked on the record itself.
	marcCond struct {
		tag      string
		code     byte // 0: any subfield
		from, to int  // byte positions in a control field or the leader; -1: none
		op       string
		value    string
		folded   string // value, case-folded (contains) or normalized (=)
	}
)

// leaf marks the conditions SQL evaluates; idx is their order in the query.
type leaf struct{ idx int }

func (andNode) isNode()        {}
func (orNode) isNode()         {}
func (notNode) isNode()        {}
func (allNode) isNode()        {}
func (keyCond) isNode()        {}
func (titleCond) isNode()      {}
func (typeCond) isNode()       {}
func (dateCond) isNode()       {}
func (suppressedCond) isNode() {}
func (marcCond) isNode()       {}

// Query is a parsed query.
type Query struct {
	src   string
	root  Node
	nsql  int // SQL leaves
	nmarc int // MARC conditions
	types []string
}

// String returns the query as it was written.
func (q *Query) String() string { return q.src }

// UsesMARC reports whether the query has MARC field conditions, which are
// checked on each candidate record's fields rather than in SQL.
func (q *Query) UsesMARC() bool { return q.nmarc > 0 }

// SQLConditions returns how many conditions SQL evaluates (LeafColumns).
func (q *Query) SQLConditions() int { return q.nsql }

// RecordTypes returns the record types (bib, authority) named by type
// conditions, in query order, without duplicates.
func (q *Query) RecordTypes() []string { return q.types }

// MaxLength is the longest query accepted, in bytes.
const MaxLength = 8192

// maxDepth bounds nesting (parentheses and NOTs), so a hostile query cannot
// exhaust the stack.
const maxDepth = 100

// Parse parses a query. Errors are *Error, naming the position of the problem.
func Parse(src string) (*Query, error) {
	if len(src) > MaxLength {
		return nil, &Error{1, fmt.Sprintf("the query is %d bytes long; the limit is %d", len(src), MaxLength)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, q: &Query{src: src}}
	if p.peek().kind == tEOF {
		return nil, &Error{1, `the query is empty (write "all" for every record)`}
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, &Error{t.pos, `")" without a matching "("`}
		}
		return nil, &Error{t.pos, fmt.Sprintf("expected AND, OR or the end of the query, found %s", t.describe())}
	}
	p.q.root = root
	return p.q, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
	q     *Query
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func isKeyword(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func (p *parser) or() (Node, error) {
	return p.binary("or", p.and, func(l, r Node) Node { return orNode{l, r} })
}

func (p *parser) and() (Node, error) {
	return p.binary("and", p.not, func(l, r Node) Node { return andNode{l, r} })
}

// binary parses operands joined by the keyword kw, left to right.
func (p *parser) binary(kw string, operand func() (Node, error), join func(l, r Node) Node) (Node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for isKeyword(p.peek(), kw) {
		p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = join(l, r)
	}
	return l, nil
}

func (p *parser) not() (Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, &Error{p.peek().pos, fmt.Sprintf("the query nests deeper than %d levels", maxDepth)}
	}
	if isKeyword(p.peek(), "not") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.primary()
}

const conditions = `title, type, created, updated, suppressed, 001, 035, isbn, issn, all, or a MARC tag such as 650 $a`

func (p *parser) primary() (Node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, &Error{c.pos, fmt.Sprintf(`expected ")" to close the "(" at position %d, found %s`, t.pos, c.describe())}
		}
		p.next()
		return x, nil
	case tWord:
	case tEOF:
		return nil, &Error{t.pos, "expected a condition (" + conditions + "), found the end of the query"}
	default:
		return nil, &Error{t.pos, fmt.Sprintf("expected a condition (%s), found %s", conditions, t.describe())}
	}
	switch w := strings.ToLower(t.text); {
	case w == "and" || w == "or":
		return nil, &Error{t.pos, fmt.Sprintf("expected a condition before %q", strings.ToUpper(w))}
	case w == "all":
		return allNode{}, nil
	case w == "title":
		return p.title(t)
	case w == "type":
		return p.recordType(t)
	case w == "created" || w == "updated":
		return p.date(t, w+"_at")
	case w == "suppressed":
		return p.suppressed(t)
	case w == "isbn" || w == "issn":
		return p.key(t, w)
	case tagRe.MatchString(t.text):
		return p.marc(t)
	default:
		return nil, &Error{t.pos, fmt.Sprintf("unknown condition %q (expected %s)", t.text, conditions)}
	}
}

// value reads a value after the token before: a quoted string or a single
// word that is not a keyword.
func (p *parser) value(before token) (token, error) {
	t := p.peek()
	if t.kind == tString || (t.kind == tWord && !isKeyword(t, "and") && !isKeyword(t, "or") && !isKeyword(t, "not")) {
		return p.next(), nil
	}
	return t, &Error{t.pos, fmt.Sprintf("expected a value after %q, found %s", before.text, t.describe())}
}

// op reads one of the allowed operators (symbols or words such as contains).
func (p *parser) op(after token, allowed ...string) (token, error) {
	t := p.peek()
	if t.kind == tOp || t.kind == tWord {
		for _, a := range allowed {
			if strings.EqualFold(t.text, a) {
				p.next()
				t.text = a
				return t, nil
			}
		}
	}
	return t, &Error{t.pos, fmt.Sprintf("expected %s after %q, found %s", orList(allowed), after.text, t.describe())}
}

// opValue reads one of the allowed operators after t, then its value.
func (p *parser) opValue(t token, allowed ...string) (op, v token, err error) {
	if op, err = p.op(t, allowed...); err != nil {
		return op, token{}, err
	}
	v, err = p.value(op)
	return op, v, err
}

func orList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func (p *parser) sqlLeaf() leaf {
	l := leaf{p.q.nsql}
	p.q.nsql++
	return l
}

// negated wraps n in NOT for the "!=" operator.
func negated(op string, n Node) Node {
	if op == "!=" {
		return notNode{n}
	}
	return n
}

func (p *parser) title(t token) (Node, error) {
	_, v, err := p.opValue(t, "contains")
	if err != nil {
		return nil, err
	}
	if len(strings.FieldsFunc(v.text, func(r rune) bool { return !wordRune(r) || r == '-' || r == '/' })) == 0 {
		return nil, &Error{v.pos, "expected at least one word in the title condition"}
	}
	return titleCond{p.sqlLeaf(), v.text}, nil
}

func (p *parser) recordType(t token) (Node, error) {
	op, v, err := p.opValue(t, "=", "!=")
	if err != nil {
		return nil, err
	}
	typ := strings.ToLower(v.text)
	if typ != "bib" && typ != "authority" {
		return nil, &Error{v.pos, fmt.Sprintf("unknown record type %q (bib or authority)", v.text)}
	}
	if !slices.Contains(p.q.types, typ) {
		p.q.types = append(p.q.types, typ)
	}
	return negated(op.text, typeCond{p.sqlLeaf(), typ}), nil
}

func (p *parser) date(t token, column string) (Node, error) {
	op, v, err := p.opValue(t, "<=", ">=", "<", ">", "=", "!=")
	if err != nil {
		return nil, err
	}
	c := dateCond{column: column, op: op.text}
	if d, err := time.Parse("2006-01-02", v.text); err == nil {
		c.day = true
		c.y, c.m, c.d = d.Date()
	} else if at, err := time.Parse(time.RFC3339, v.text); err == nil {
		c.at = at
	} else {
		return nil, &Error{v.pos, fmt.Sprintf("%q is not a date (YYYY-MM-DD) or a time (RFC 3339, e.g. 2024-05-01T14:00:00Z)", v.text)}
	}
	if op.text == "!=" {
		c.op = "="
	}
	c.leaf = p.sqlLeaf()
	return negated(op.text, c), nil
}

func (p *parser) suppressed(t token) (Node, error) {
	if n := p.peek(); n.kind != tOp {
		return suppressedCond{p.sqlLeaf(), true}, nil
	}
	op, v, err := p.opValue(t, "=", "!=")
	if err != nil {
		return nil, err
	}
	b, err := strconv.ParseBool(strings.ToLower(v.text))
	if err != nil {
		return nil, &Error{v.pos, fmt.Sprintf("%q is not true or false", v.text)}
	}
	return negated(op.text, suppressedCond{p.sqlLeaf(), b}), nil
}

// key reads a match-key condition (isbn, issn, 001, 035 with "=").
func (p *parser) key(t token, kind string) (Node, error) {
	op, err := p.op(t, "=", "!=")
	if err != nil {
		return nil, err
	}
	return p.keyValue(op, kind)
}

func (p *parser) keyValue(op token, kind string) (Node, error) {
	v, err := p.value(op)
	if err != nil {
		return nil, err
	}
	c := keyCond{kind: kind}
	switch kind {
	case catalog.KeyISBN:
		c.value = catalog.NormalizeISBN(v.text)
		if c.value == "" {
			return nil, &Error{v.pos, fmt.Sprintf("%q is not a valid ISBN (10 or 13 digits with a correct check digit)", v.text)}
		}
	case catalog.KeyISSN:
		c.value = catalog.NormalizeISSN(v.text)
		if c.value == "" {
			return nil, &Error{v.pos, fmt.Sprintf("%q is not a valid ISSN (NNNN-NNNC with a correct check digit)", v.text)}
		}
	case catalog.Key035:
		c.value = catalog.NormalizeSystemNumber(v.text)
		if c.value == "" {
			return nil, &Error{v.pos, fmt.Sprintf("%q is not a system number", v.text)}
		}
	case catalog.Key001:
		// "003|001" (as stored) or a bare 001, matched whatever the 003.
		org, id, qualified := strings.Cut(v.text, "|")
		if qualified {
			c.value = strings.ToUpper(strings.TrimSpace(org)) + "|" + strings.TrimSpace(id)
		} else {
			c.value, c.bare001 = strings.TrimSpace(v.text), true
		}
		if strings.TrimSpace(id) == "" && (qualified || c.value == "") {
			return nil, &Error{v.pos, "expected a control number (001), optionally with its 003 as \"ORG|NUMBER\""}
		}
	}
	c.leaf = p.sqlLeaf()
	return negated(op.text, c), nil
}

// tagRe: a tag (three digits, or LDR for the leader) with an optional
// position or position range (control fields and the leader).
var tagRe = regexp.MustCompile(`^(?i:(\d{3}|LDR))(?:/(\d{1,5})(?:-(\d{1,5}))?)?$`)

func (p *parser) marc(t token) (Node, error) {
	m := tagRe.FindStringSubmatch(t.text)
	c := marcCond{tag: strings.ToUpper(m[1]), from: -1, to: -1}
	control := c.tag == "LDR" || strings.HasPrefix(c.tag, "00")
	if m[2] != "" {
		if !control {
			return nil, &Error{t.pos, fmt.Sprintf("positions (%s) apply to control fields (001-009) and LDR only", t.text)}
		}
		c.from, _ = strconv.Atoi(m[2])
		c.to = c.from
		if m[3] != "" {
			c.to, _ = strconv.Atoi(m[3])
		}
		if c.to < c.from {
			return nil, &Error{t.pos, fmt.Sprintf("position range %s ends before it starts", t.text)}
		}
		if c.tag == "LDR" && c.to > 23 {
			return nil, &Error{t.pos, "the leader has positions 00-23"}
		}
	}
	if s := p.peek(); s.kind == tSubfield {
		if control {
			return nil, &Error{s.pos, fmt.Sprintf("%s is a control field: it has no subfields", c.tag)}
		}
		p.next()
		c.code = s.text[0]
	}
	if c.tag == "LDR" && c.from < 0 {
		return nil, &Error{t.pos, "a leader condition needs a position, e.g. LDR/06 = \"j\""}
	}
	// 001 = and 035 = are match-key conditions: indexed, and normalized as
	// the import matches them.
	if (c.tag == "001" || c.tag == "035") && c.code == 0 && c.from < 0 {
		if n := p.peek(); n.kind == tOp && (n.text == "=" || n.text == "!=") {
			op := p.next()
			return p.keyValue(op, map[string]string{"001": catalog.Key001, "035": catalog.Key035}[c.tag])
		}
	}
	op, err := p.op(t, "contains", "=", "!=", "exists")
	if err != nil {
		return nil, err
	}
	c.op = op.text
	if c.op == "exists" {
		if c.from >= 0 {
			return nil, &Error{op.pos, "\"exists\" applies to a field or subfield, not to positions"}
		}
	} else {
		v, err := p.value(op)
		if err != nil {
			return nil, err
		}
		c.value = v.text
		if c.op == "contains" && c.value == "" {
			return nil, &Error{v.pos, "expected a non-empty value after \"contains\""}
		}
	}
	if c.op == "!=" {
		c.op = "="
	}
	switch {
	case c.from >= 0:
		c.folded = c.value // positions compare exactly
	case c.op == "contains":
		c.folded = fold(c.value)
	case c.op == "=":
		c.folded = normalizeEq(c.value)
	}
	p.q.nmarc++
	return negated(op.text, c), nil
}
