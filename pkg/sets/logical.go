package sets

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bindery/bindery/pkg/sets/query"
)

// CreateLogical creates a logical set: its query is parsed now (a query
// that cannot be parsed is refused with a *query.Error naming the position
// of the problem) and run whenever a job takes a snapshot of the set. The
// content type is bib or authority: as asked, else the one record type the
// query names, else bib.
func CreateLogical(ctx context.Context, pool Pool, n NewSet) (Set, error) {
	if err := n.validateName(); err != nil {
		return Set{}, err
	}
	q, err := query.Parse(n.Query)
	if err != nil {
		return Set{}, err
	}
	content := n.ContentType
	switch content {
	case "":
		content = ContentBib
		if t := q.RecordTypes(); len(t) == 1 {
			content = t[0]
		}
	case ContentBib, ContentAuthority:
	default:
		return Set{}, &InputError{fmt.Sprintf("a logical set selects catalog records: its content type is bib or authority, not %q", n.ContentType)}
	}
	tz := n.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return Set{}, &InputError{fmt.Sprintf("unknown time zone %q", tz)}
	}
	var id int64
	err = pool.QueryRow(ctx, `INSERT INTO sets (institution, name, kind, content_type, query, time_zone, description, created_by)
		VALUES ($1, $2, 'logical', $3, $4, $5, $6, $7) RETURNING id`,
		n.Institution, n.Name, content, q.String(), tz, n.Description, n.CreatedBy).Scan(&id)
	if err != nil {
		return Set{}, nameTaken(err)
	}
	return Get(ctx, pool, n.Institution, id)
}

// Member is one member of a set: its id (records.id, items.id, users.id),
// its key as staff know it (the MMS id, the barcode, the user's primary
// id) and a label (title, name).
type Member struct {
	Ord   int64  `json:"ord"`
	ID    int64  `json:"id"`
	Key   string `json:"key"`
	Label string `json:"label,omitempty"`
}

// population is the SQL of a set's members now: "SELECT " + cols +
// marcCols + from. cols are k (the order), id, key and label; when q checks
// MARC conditions, marcCols are the record's marc and q's SQL conditions.
type population struct {
	cols     string
	marcCols string
	from     string
	args     []any
	q        *query.Query // non-nil when candidates must be matched in Go
}

func (p *population) sql() string { return "SELECT " + p.cols + p.marcCols + " " + p.from }

func populationOf(s *Set) (*population, error) {
	switch {
	case s.Kind == Logical:
		q, err := query.Parse(s.Query)
		if err != nil {
			return nil, fmt.Errorf("set %d: stored query: %w", s.ID, err)
		}
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("set %d: time zone: %w", s.ID, err)
		}
		a := query.NewArgs(query.Context{Institution: s.Institution, Location: loc}, s.Institution, s.ContentType)
		p := &population{cols: `r.id AS k, r.id, r.id::text AS key, r.title AS label`}
		p.from = `FROM records r WHERE r.institution = $1 AND r.record_type = $2 AND NOT r.deleted AND ` + q.Where(a)
		if q.UsesMARC() {
			p.marcCols = ", r.marc"
			for _, c := range q.LeafColumns(a) {
				p.marcCols += ", " + c
			}
			p.q = q
		}
		p.args = a.Values()
		return p, nil
	case s.ContentType == ContentBib || s.ContentType == ContentAuthority:
		return &population{cols: `m.ord AS k, r.id, r.id::text AS key, r.title AS label`,
			from: `FROM set_members m JOIN records r ON r.id = m.member_id AND r.institution = $1 AND r.record_type = $2 AND NOT r.deleted
			WHERE m.set_id = $3`, args: []any{s.Institution, s.ContentType, s.ID}}, nil
	case s.ContentType == ContentItem:
		return &population{cols: `m.ord AS k, i.id, i.barcode AS key, i.title AS label`,
			from: `FROM set_members m JOIN items i ON i.id = m.member_id AND i.institution = $1
			WHERE m.set_id = $2`, args: []any{s.Institution, s.ID}}, nil
	case s.ContentType == ContentUser:
		return &population{cols: `m.ord AS k, x.id, x.primary_id AS key, x.full_name AS label`,
			from: `FROM set_members m JOIN users x ON x.id = m.member_id AND x.institution = $1
			WHERE m.set_id = $2`, args: []any{s.Institution, s.ID}}, nil
	}
	return nil, &InputError{fmt.Sprintf("set %d holds %s, which Bindery has no data for", s.ID, s.ContentType)}
}

// scanner reads the rows of a population query: dest for Scan, and match
// to decide a row when the query has MARC conditions.
type scanner struct {
	q      *query.Query
	raw    []byte
	leaves []bool
}

func (sc *scanner) dest(first ...any) []any {
	if sc.q == nil {
		return first
	}
	sc.leaves = make([]bool, sc.q.SQLConditions())
	dest := append(first, &sc.raw)
	for i := range sc.leaves {
		dest = append(dest, &sc.leaves[i])
	}
	return dest
}

func (sc *scanner) match(id int64) (bool, error) {
	if sc.q == nil {
		return true, nil
	}
	ok, err := sc.q.Match(sc.leaves, sc.raw)
	if err != nil {
		return false, fmt.Errorf("record %d: %w", id, err)
	}
	return ok, nil
}

// each streams a population without MARC conditions in order, from
// offset, at most limit (0: all), numbering members from offset+1.
func (p *population) each(ctx context.Context, q DB, offset, limit int64, fn func(Member) error) (int64, error) {
	args := append(append([]any(nil), p.args...), offset)
	sql := p.sql() + ` ORDER BY k OFFSET $` + strconv.Itoa(len(args))
	if limit > 0 {
		args = append(args, limit)
		sql += ` LIMIT $` + strconv.Itoa(len(args))
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("run set: %w", err)
	}
	defer rows.Close()
	var k, n int64
	var m Member
	for rows.Next() {
		if err := rows.Scan(&k, &m.ID, &m.Key, &m.Label); err != nil {
			return n, err
		}
		n++
		m.Ord = offset + n
		if err := fn(m); err != nil {
			return n, err
		}
	}
	return n, rows.Err()
}

// matchingIDs runs a logical population with MARC conditions for a
// snapshot: only the id and what the match needs are read, in whatever
// order PostgreSQL finds them (an ORDER BY would sort the records' MARC),
// and the matching ids are returned sorted (a logical set's order).
func (p *population) matchingIDs(ctx context.Context, q DB) ([]int64, error) {
	rows, err := q.Query(ctx, "SELECT r.id"+p.marcCols+" "+p.from, p.args...)
	if err != nil {
		return nil, fmt.Errorf("run set: %w", err)
	}
	defer rows.Close()
	var ids []int64
	if binaryColumns(rows) {
		// The fast path: the row's bytes as PostgreSQL sent them (int8,
		// bytea, bool in binary format), matched in place, nothing copied.
		leaves := make([]bool, p.q.SQLConditions())
		for rows.Next() {
			vals := rows.RawValues()
			if len(vals[0]) != 8 || vals[1] == nil {
				return nil, fmt.Errorf("run set: unexpected id or marc value")
			}
			id := int64(binary.BigEndian.Uint64(vals[0]))
			for i := range leaves {
				v := vals[2+i]
				if len(v) != 1 {
					return nil, fmt.Errorf("run set: record %d: condition %d is not true or false", id, i+1)
				}
				leaves[i] = v[0] == 1
			}
			ok, err := p.q.Match(leaves, vals[1])
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", id, err)
			}
			if ok {
				ids = append(ids, id)
			}
		}
	} else {
		var id int64
		sc := &scanner{q: p.q}
		dest := sc.dest(&id)
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return nil, err
			}
			ok, err := sc.match(id)
			if err != nil {
				return nil, err
			}
			if ok {
				ids = append(ids, id)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return ids, nil
}

// binaryColumns reports whether every column of rows comes in binary
// format with the types matchingIDs expects (int8, bytea, then bool).
func binaryColumns(rows pgx.Rows) bool {
	for i, fd := range rows.FieldDescriptions() {
		want := uint32(pgtype.BoolOID)
		switch i {
		case 0:
			want = pgtype.Int8OID
		case 1:
			want = pgtype.ByteaOID
		}
		if fd.Format != pgx.BinaryFormatCode || fd.DataTypeOID != want {
			return false
		}
	}
	return true
}

// Members calls fn with each member of the set as it is now (a logical
// set's query is run), in order, skipping the first offset and stopping
// after limit (0: no limit). It returns how many it passed to fn.
func Members(ctx context.Context, q DB, s Set, offset, limit int64, fn func(Member) error) (int64, error) {
	p, err := populationOf(&s)
	if err != nil {
		return 0, err
	}
	if p.q == nil {
		return p.each(ctx, q, offset, limit, fn)
	}
	// MARC conditions: match every candidate, then read the titles of the
	// requested page only.
	ids, err := p.matchingIDs(ctx, q)
	if err != nil {
		return 0, err
	}
	ids = ids[min(offset, int64(len(ids))):]
	if limit > 0 && int64(len(ids)) > limit {
		ids = ids[:limit]
	}
	var n int64
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 1000)]
		ids = ids[len(batch):]
		rows, err := q.Query(ctx, `SELECT id, title FROM records WHERE id = ANY($1) ORDER BY id`, batch)
		if err != nil {
			return n, err
		}
		var m Member
		for rows.Next() {
			if err := rows.Scan(&m.ID, &m.Label); err != nil {
				rows.Close()
				return n, err
			}
			n++
			m.Ord, m.Key = offset+n, strconv.FormatInt(m.ID, 10)
			if err := fn(m); err != nil {
				rows.Close()
				return n, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Count returns how many members the set has now.
func Count(ctx context.Context, q DB, s Set) (int64, error) {
	p, err := populationOf(&s)
	if err != nil {
		return 0, err
	}
	if p.q == nil {
		var n int64
		err := q.QueryRow(ctx, `SELECT count(*) FROM (`+p.sql()+`) s`, p.args...).Scan(&n)
		return n, err
	}
	ids, err := p.matchingIDs(ctx, q)
	return int64(len(ids)), err
}

// Snapshot writes the set's members as they are now (a logical set's query
// is run now) to job_set_members with ord 1..n, replacing any earlier
// snapshot of the job (a job planned again), and returns n. It is
// ErrNotFound when the set does not exist or is another institution's.
func Snapshot(ctx context.Context, tx pgx.Tx, institution string, setID int64, jobID int64) (count int64, err error) {
	s, err := scanSet(tx.QueryRow(ctx, `SELECT `+setColumns+` FROM sets WHERE id = $1 AND institution = $2 FOR KEY SHARE`, setID, institution))
	if err != nil {
		return 0, err
	}
	if err := DropSnapshot(ctx, tx, jobID); err != nil {
		return 0, err
	}
	p, err := populationOf(s)
	if err != nil {
		return 0, err
	}
	if p.q == nil {
		args := append(append([]any(nil), p.args...), jobID)
		tag, err := tx.Exec(ctx, `INSERT INTO job_set_members (job_id, ord, member_id)
			SELECT $`+strconv.Itoa(len(args))+`, row_number() OVER (ORDER BY k), id FROM (`+p.sql()+`) s`, args...)
		if err != nil {
			return 0, fmt.Errorf("snapshot of set %d: %w", setID, err)
		}
		return tag.RowsAffected(), nil
	}
	// MARC conditions: the candidates are matched here, then written in one COPY.
	ids, err := p.matchingIDs(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("snapshot of set %d: %w", setID, err)
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"job_set_members"}, []string{"job_id", "ord", "member_id"},
		pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) { return []any{jobID, int64(i + 1), ids[i]}, nil }))
	if err != nil {
		return 0, fmt.Errorf("snapshot of set %d: %w", setID, err)
	}
	return n, nil
}
