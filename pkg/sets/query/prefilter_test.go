package query_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/sets/query"
	"github.com/bindery/bindery/pkg/testenv"
)

// run evaluates q over the records table: the SQL part (Where) filters when
// prefilter is set, else every record is a candidate; Match decides.
func run(t *testing.T, db *testenv.Database, q *query.Query, prefilter bool) []int64 {
	t.Helper()
	a := query.NewArgs(query.Context{Institution: "DEMO"})
	where := "TRUE"
	if prefilter {
		where = q.Where(a)
	}
	cols := ""
	for _, c := range q.LeafColumns(a) {
		cols += ", " + c
	}
	rows, err := db.Pool.Query(context.Background(), "SELECT r.id, r.marc"+cols+" FROM records r WHERE "+where+" ORDER BY r.id", a.Values()...)
	require.NoError(t, err)
	defer rows.Close()
	out := []int64{}
	var id int64
	var raw []byte
	leaves := make([]bool, q.SQLConditions())
	dest := []any{&id, &raw}
	for i := range leaves {
		dest = append(dest, &leaves[i])
	}
	for rows.Next() {
		require.NoError(t, rows.Scan(dest...))
		ok, err := q.Match(leaves, raw)
		require.NoError(t, err)
		if ok {
			out = append(out, id)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

var randomLeaves = []string{
	`suppressed`, `type = bib`, `type = authority`, `created >= 2024-06-01`, `updated < 2024-03-01`,
	`650 $a contains "jazz"`, `245 $a contains "the"`, `LDR/06 = "j"`, `856 exists`, `650 $x exists`,
	`title contains "blue"`, `all`, `008/35-37 = "eng"`, `100 $a = "Ellington, Duke"`,
}

func randomQuery(r *rand.Rand, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		return randomLeaves[r.IntN(len(randomLeaves))]
	}
	switch r.IntN(3) {
	case 0:
		return "NOT (" + randomQuery(r, depth-1) + ")"
	case 1:
		return "(" + randomQuery(r, depth-1) + " AND " + randomQuery(r, depth-1) + ")"
	default:
		return "(" + randomQuery(r, depth-1) + " OR " + randomQuery(r, depth-1) + ")"
	}
}

// TestPrefilterNeverDropsAMatch: for random queries mixing SQL and MARC
// conditions under AND, OR and NOT, the records found with the SQL
// prefilter are exactly those found without it, on jazz_1k.mrc with random
// suppressed flags and dates; and without MARC conditions the SQL alone is
// the query.
func TestPrefilterNeverDropsAMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	f, err := os.Open("../../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	defer f.Close()
	rd, err := marc.NewBinaryReader(f, nil)
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(7, 11))
	var rows [][]any
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		raw, err := marc.Marshal(rec)
		require.NoError(t, err)
		title := ""
		if fl := rec.FirstField("245"); fl != nil {
			title = strings.Join(fl.SubfieldValues('a', 'b'), " ")
		}
		created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(365*24)) * time.Hour)
		rows = append(rows, []any{"DEMO", []string{"bib", "authority"}[r.IntN(5)/4], raw, title, r.IntN(4) == 0,
			created, created.Add(time.Duration(r.IntN(90*24)) * time.Hour)})
	}
	_, err = db.Pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"institution", "record_type", "marc", "title", "suppressed", "created_at", "updated_at"},
		pgx.CopyFromRows(rows))
	require.NoError(t, err)

	for range 150 {
		src := randomQuery(r, 4)
		q, err := query.Parse(src)
		require.NoError(t, err, src)
		all := run(t, db, q, false)
		filtered := run(t, db, q, true)
		require.Equal(t, all, filtered, src)
		if !q.UsesMARC() {
			// The SQL alone decides: every prefiltered record matches.
			a := query.NewArgs(query.Context{Institution: "DEMO"})
			ids, err := db.Pool.Query(ctx, "SELECT r.id FROM records r WHERE "+q.Where(a)+" ORDER BY r.id", a.Values()...)
			require.NoError(t, err)
			sqlOnly, err := pgx.CollectRows(ids, pgx.RowTo[int64])
			require.NoError(t, err)
			require.Equal(t, all, append([]int64{}, sqlOnly...), src)
		}
	}
}
