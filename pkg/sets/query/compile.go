package query

import (
	"fmt"
	"strconv"
	"time"
)

// Args collects the values of a query's SQL placeholders. Placeholders are
// numbered after the first values the caller passes to NewArgs, so the
// query's SQL can be embedded in a statement that has its own.
type Args struct {
	vals []any
	inst string // placeholder of the institution, once added
	ctx  Context
}

// Context is what compiling a query needs to know of where it runs.
type Context struct {
	// Institution whose match keys are searched.
	Institution string
	// Location is the time zone dates (YYYY-MM-DD) are days in; UTC if nil.
	Location *time.Location
}

// NewArgs starts the placeholder list with the caller's own values ($1...).
func NewArgs(ctx Context, first ...any) *Args {
	if ctx.Location == nil {
		ctx.Location = time.UTC
	}
	return &Args{vals: append([]any(nil), first...), ctx: ctx}
}

// Values returns every placeholder value, the caller's first.
func (a *Args) Values() []any { return a.vals }

// add adds a value and returns its placeholder, typed, so PostgreSQL never
// has to infer a placeholder's type from where it stands.
func (a *Args) add(v any) string {
	a.vals = append(a.vals, v)
	ph := "$" + strconv.Itoa(len(a.vals))
	switch v.(type) {
	case bool:
		return ph + "::boolean"
	case time.Time:
		return ph + "::timestamptz"
	default:
		return ph + "::text"
	}
}

func (a *Args) institution() string {
	if a.inst == "" {
		a.inst = a.add(a.ctx.Institution)
	}
	return a.inst
}

// Where returns a boolean SQL expression over the records table aliased r.
// Without MARC conditions it is exactly the query; with them it is a
// necessary condition (every MARC condition counted as possibly true, under
// any number of NOTs), and Match decides each candidate.
func (q *Query) Where(a *Args) string { return where(q.root, false, a) }

// LeafColumns returns the SQL of each condition evaluated in SQL, in query
// order, to select beside each candidate and pass to Match.
func (q *Query) LeafColumns(a *Args) []string {
	out := make([]string, q.nsql)
	walk(q.root, func(n Node) {
		if l, ok := sqlLeafOf(n); ok {
			out[l] = leafSQL(n, a)
		}
	})
	return out
}

func walk(n Node, f func(Node)) {
	f(n)
	switch n := n.(type) {
	case andNode:
		walk(n.l, f)
		walk(n.r, f)
	case orNode:
		walk(n.l, f)
		walk(n.r, f)
	case notNode:
		walk(n.x, f)
	}
}

func sqlLeafOf(n Node) (int, bool) {
	switch n := n.(type) {
	case keyCond:
		return n.idx, true
	case titleCond:
		return n.idx, true
	case typeCond:
		return n.idx, true
	case dateCond:
		return n.idx, true
	case suppressedCond:
		return n.idx, true
	}
	return 0, false
}

const (
	sqlTrue  = "TRUE"
	sqlFalse = "FALSE"
)

// where compiles n (negated when neg), pushing NOTs down to the leaves so
// that a MARC condition can stand for TRUE whatever its polarity. Parts
// that are constant are folded away before any of their values is added.
func where(n Node, neg bool, a *Args) string {
	if v, ok := constant(n, neg); ok {
		if v {
			return sqlTrue
		}
		return sqlFalse
	}
	switch n := n.(type) {
	case andNode, orNode:
		l, r, conj := operands(n, neg)
		// The parts are not both constant; a constant part is the identity
		// (TRUE in AND, FALSE in OR), or the whole would be constant.
		if _, ok := constant(l, neg); ok {
			return where(r, neg, a)
		}
		if _, ok := constant(r, neg); ok {
			return where(l, neg, a)
		}
		op := " OR "
		if conj {
			op = " AND "
		}
		return "(" + where(l, neg, a) + op + where(r, neg, a) + ")"
	case notNode:
		return where(n.x, !neg, a)
	default:
		s := leafSQL(n, a)
		if neg {
			return "NOT " + s
		}
		return s
	}
}

// operands returns the two sides of an AND or OR node (nothing for another
// node), and whether the node, negated when neg (De Morgan), joins them as
// a conjunction.
func operands(n Node, neg bool) (l, r Node, conj bool) {
	switch n := n.(type) {
	case andNode:
		return n.l, n.r, !neg
	case orNode:
		return n.l, n.r, neg
	}
	return nil, nil, false
}

// constant reports whether n (negated when neg) is the same for every
// record in the prefilter, where a MARC condition counts as TRUE.
func constant(n Node, neg bool) (value, ok bool) {
	switch n := n.(type) {
	case allNode, marcCond:
		_, isMarc := n.(marcCond)
		if isMarc {
			return true, true
		}
		return !neg, true
	case notNode:
		return constant(n.x, !neg)
	case andNode, orNode:
		l, r, conj := operands(n, neg)
		lv, lok := constant(l, neg)
		rv, rok := constant(r, neg)
		absorbing := !conj // FALSE absorbs AND, TRUE absorbs OR
		switch {
		case lok && lv == absorbing, rok && rv == absorbing:
			return absorbing, true
		case lok && rok:
			return lv, true // both the identity
		}
		return false, false
	}
	return false, false
}

// leafSQL is the SQL of one condition; every one is true or false, never
// NULL, so NOT means what it says.
func leafSQL(n Node, a *Args) string {
	switch n := n.(type) {
	case keyCond:
		// record_key(...) is what the key index holds (migration 0020):
		// a bare 001 is a range of it, the institution's 001 keys (the
		// separator U+001F, then U+0020 just above it).
		if n.bare001 {
			return "(r.id IN (SELECT k.record_id FROM record_keys k WHERE record_key(k.institution, k.kind, k.value) >= record_key(" + a.institution() + ", '001', '')" +
				" AND record_key(k.institution, k.kind, k.value) < (" + a.institution() + " || E'\\x1f001 ')" +
				" AND substr(k.value, strpos(k.value, '|') + 1) = " + a.add(n.value) + "))"
		}
		return "(r.id IN (SELECT k.record_id FROM record_keys k WHERE record_key(k.institution, k.kind, k.value) = record_key(" + a.institution() +
			", " + a.add(n.kind) + ", " + a.add(n.value) + ")))"
	case titleCond:
		return "(to_tsvector('simple', r.title) @@ plainto_tsquery('simple', " + a.add(n.words) + "))"
	case typeCond:
		return "(r.record_type = " + a.add(n.typ) + ")"
	case suppressedCond:
		return "(r.suppressed = " + a.add(n.v) + ")"
	case dateCond:
		return dateSQL(n, a)
	}
	panic(fmt.Sprintf("query: no SQL for %T", n))
}

func dateSQL(c dateCond, a *Args) string {
	col := "r." + c.column
	if !c.day {
		op := c.op
		return "(" + col + " " + op + " " + a.add(c.at) + ")"
	}
	loc := a.ctx.Location
	start := time.Date(c.y, c.m, c.d, 0, 0, 0, 0, loc)
	next := time.Date(c.y, c.m, c.d+1, 0, 0, 0, 0, loc)
	switch c.op {
	case "<":
		return "(" + col + " < " + a.add(start) + ")"
	case "<=":
		return "(" + col + " < " + a.add(next) + ")"
	case ">":
		return "(" + col + " >= " + a.add(next) + ")"
	case ">=":
		return "(" + col + " >= " + a.add(start) + ")"
	default: // "=": that day
		return "(" + col + " >= " + a.add(start) + " AND " + col + " < " + a.add(next) + ")"
	}
}
