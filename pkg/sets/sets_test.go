package sets_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/sets/query"
	"github.com/bindery/bindery/pkg/testenv"
)

func TestItemizedMMSIDsReportUnknownIDsWithTheirLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	importFile(t, db, inst, "vendor-bibs", "lul_fre_100.mrc")
	importFile(t, db, inst, "authorities", "concerto_authorities.xml")
	importFile(t, db, "DEMO2", "vendor-bibs", "concerto_bibs.xml")
	bibs := ids(t, db, `SELECT id FROM records WHERE institution = $1 AND record_type = 'bib' ORDER BY id LIMIT 3`, inst)
	auth := ids(t, db, `SELECT id FROM records WHERE institution = $1 AND record_type = 'authority' LIMIT 1`, inst)[0]
	other := ids(t, db, `SELECT id FROM records WHERE institution = 'DEMO2' LIMIT 1`)[0]
	_, err := db.Pool.Exec(ctx, `UPDATE records SET deleted = true WHERE id = $1`, bibs[2])
	require.NoError(t, err)

	s, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "French"}, idFile(
		"\uFEFFMMS ID",           // 1: header, with the BOM spreadsheets write
		fmt.Sprint(bibs[1]),      // 2: member 1
		"",                       // 3: blank, skipped
		"  "+fmt.Sprint(bibs[0]), // 4: member 2 (spaces trimmed)
		"990000000000",           // 5: no such record
		"abc",                    // 6: not a number
		fmt.Sprint(bibs[1]),      // 7: duplicate of line 2
		fmt.Sprint(auth),         // 8: an authority in a bib set
		fmt.Sprint(other),        // 9: another institution's record: not found
		fmt.Sprint(bibs[2]),      // 10: deleted
	))
	require.NoError(t, err)
	require.Equal(t, sets.Itemized, s.Kind)
	require.Equal(t, sets.ContentBib, s.ContentType)
	require.Equal(t, sets.IDKindMMS, s.IDKind)
	require.Equal(t, int64(2), *s.Members)
	require.Equal(t, int64(6), s.ProblemCount)
	require.Equal(t, []sets.Problem{
		{Line: 5, Value: "990000000000", Problem: "not found"},
		{Line: 6, Value: "abc", Problem: "not an MMS ID (a number)"},
		{Line: 7, Value: fmt.Sprint(bibs[1]), Problem: "duplicate of line 2"},
		{Line: 8, Value: fmt.Sprint(auth), Problem: "an authority record; this set holds bib records"},
		{Line: 9, Value: fmt.Sprint(other), Problem: "not found"},
		{Line: 10, Value: fmt.Sprint(bibs[2]), Problem: "deleted"},
	}, s.Problems)
	// Members keep file order.
	require.Equal(t, []int64{bibs[1], bibs[0]}, snapshot(t, db, s.ID))

	// The other institution does not see it; its own set of the same name is fine.
	_, err = sets.Get(ctx, db.Pool, "DEMO2", s.ID)
	require.ErrorIs(t, err, sets.ErrNotFound)
	_, err = sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "French"}, idFile("MMS ID"))
	require.ErrorIs(t, err, sets.ErrNameTaken)

	// An authority set of MMS IDs.
	a, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Auth", ContentType: sets.ContentAuthority},
		idFile("mms_id", fmt.Sprint(auth), fmt.Sprint(bibs[0])))
	require.NoError(t, err)
	require.Equal(t, sets.ContentAuthority, a.ContentType)
	require.Equal(t, []sets.Problem{{Line: 3, Value: fmt.Sprint(bibs[0]), Problem: "a bib record; this set holds authority records"}}, a.Problems)
}

func TestItemizedBarcodesAndUserIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO items (institution, barcode, title) VALUES
		('DEMO', 'B1', 'One'), ('DEMO', 'B2', 'Two'), ('DEMO2', 'B3', 'Elsewhere');
		INSERT INTO users (institution, primary_id, full_name) VALUES ('DEMO', 'jdoe', 'Jane Doe'), ('DEMO2', 'xy', 'X Y')`)
	require.NoError(t, err)

	items, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Items"},
		strings.NewReader("Barcode\r\nB2\r\nB3\r\nB1\r\n"))
	require.NoError(t, err)
	require.Equal(t, sets.ContentItem, items.ContentType)
	require.Equal(t, []sets.Problem{{Line: 3, Value: "B3", Problem: "not found"}}, items.Problems)
	var got []sets.Member
	n, err := sets.Members(ctx, db.Pool, items, 0, 0, func(m sets.Member) error { got = append(got, m); return nil })
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	require.Equal(t, "B2", got[0].Key)
	require.Equal(t, "Two", got[0].Label)
	require.Equal(t, "B1", got[1].Key)
	require.Equal(t, int64(2), got[1].Ord)

	users, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Users"}, idFile("User ID", "xy", "jdoe"))
	require.NoError(t, err)
	require.Equal(t, sets.ContentUser, users.ContentType)
	require.Equal(t, int64(1), *users.Members)
	require.Equal(t, []sets.Problem{{Line: 2, Value: "xy", Problem: "not found"}}, users.Problems)
	require.Len(t, snapshot(t, db, users.ID), 1)

	// Deleting a set removes its members and problems with it.
	require.NoError(t, sets.Delete(ctx, db.Pool, inst, items.ID))
	require.Zero(t, count(t, db, `SELECT (SELECT count(*) FROM set_members WHERE set_id = $1) + (SELECT count(*) FROM set_problems WHERE set_id = $1)`, items.ID))
	require.Equal(t, int64(1), count(t, db, `SELECT count(*) FROM set_members WHERE set_id = $1`, users.ID))
}

func TestItemizedRefusesWhatItCannotCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	cases := []struct {
		name, file, content, want string
	}{
		{"empty", "", "", "the id file is empty"},
		{"blank lines only", "\n \n", "", "the id file is empty"},
		{"no header", "990000000001\n990000000002\n", "", `id file line 1: "990000000001" is not an id kind header`},
		{"header late", "\n\nISBN\n", "", `id file line 3: "ISBN" is not an id kind header`},
		{"po lines", "PO Line\nPOL-1\n", "", "Bindery holds no purchase order data yet"},
		{"barcodes as bibs", "Barcode\nB1\n", "bib", `a set of Barcodes holds item, not "bib"`},
		{"mms as users", "MMS ID\n1\n", "user", `a set of MMS IDs holds bib or authority records, not "user"`},
		{"long line", "MMS ID\n" + strings.Repeat("9", 5000) + "\n", "", "id file line 2: longer than 4096 bytes"},
	}
	for i, tc := range cases {
		_, err := sets.CreateItemized(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "s" + strconv.Itoa(i), ContentType: tc.content},
			strings.NewReader(tc.file))
		var ie *sets.InputError
		require.ErrorAs(t, err, &ie, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
	require.Zero(t, count(t, db, `SELECT count(*) FROM sets`), "a refused file leaves no set behind")
}

// TestLogicalSetIsRunWhenTheJobStarts: a record added after the set was
// created is in the next snapshot; one deleted or suppressed since is not.
func TestLogicalSetIsRunWhenTheJobStarts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	importFile(t, db, inst, "vendor-bibs", "concerto_bibs.xml")
	s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Concertos",
		Query: `title contains "concerto" AND NOT suppressed`})
	require.NoError(t, err)
	require.Equal(t, sets.ContentBib, s.ContentType)
	want := count(t, db, `SELECT count(*) FROM records WHERE institution = $1 AND title ~* '\mconcerto\M'`, inst)
	require.Positive(t, want)
	first := snapshot(t, db, s.ID)
	require.Len(t, first, int(want))

	// A new record, one suppressed, one deleted.
	var added int64
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO records (institution, record_type, marc, title)
		SELECT institution, record_type, marc, 'A new Concerto for the set' FROM records WHERE id = $1 RETURNING id`, first[0]).Scan(&added))
	_, err = db.Pool.Exec(ctx, `UPDATE records SET suppressed = true WHERE id = $1; `, first[1])
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE records SET deleted = true WHERE id = $1`, first[2])
	require.NoError(t, err)

	second := snapshot(t, db, s.ID)
	require.Len(t, second, len(first)-1)
	require.Contains(t, second, added)
	require.NotContains(t, second, first[1])
	require.NotContains(t, second, first[2])
	n, err := sets.Count(ctx, db.Pool, s)
	require.NoError(t, err)
	require.Equal(t, int64(len(second)), n)

	// Pages of members are the snapshot's order, numbered on.
	page := func(s sets.Set, offset, limit int64) (out []int64) {
		_, err := sets.Members(ctx, db.Pool, s, offset, limit, func(m sets.Member) error {
			require.Equal(t, offset+int64(len(out))+1, m.Ord)
			out = append(out, m.ID)
			return nil
		})
		require.NoError(t, err)
		return out
	}
	require.Equal(t, second[3:8], page(s, 3, 5))
	require.Equal(t, second[len(second)-2:], page(s, int64(len(second)-2), 10))
	require.Empty(t, page(s, int64(len(second)), 0))
	// The same with a MARC condition (matched in Go, then paged).
	marcSet, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "Concertos by MARC",
		Query: `title contains "concerto" AND NOT suppressed AND 245 exists`})
	require.NoError(t, err)
	require.Equal(t, second, snapshot(t, db, marcSet.ID))
	require.Equal(t, second[3:8], page(marcSet, 3, 5))
	require.Equal(t, second, page(marcSet, 0, 0))
}

// jazzCount counts, independently of the query package, the records of
// jazz_1k.mrc with a 650 $a containing "jazz" in any case: with pkg/marc's
// reader, and with yaz-marcdump when it is installed.
func jazzCount(t *testing.T) int64 {
	t.Helper()
	path := filepath.Join("../../testdata/marc", "jazz_1k.mrc")
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := marc.NewBinaryReader(f, nil)
	require.NoError(t, err)
	var n int64
	for {
		rec, err := r.Read()
		if err != nil {
			break
		}
	fields:
		for _, fl := range rec.FieldsByTag("650") {
			for _, v := range fl.SubfieldValues('a') {
				if strings.Contains(strings.ToLower(v), "jazz") {
					n++
					break fields
				}
			}
		}
	}
	if _, err := exec.LookPath("yaz-marcdump"); err == nil {
		out, err := exec.Command("yaz-marcdump", "-f", "marc-8", "-t", "utf-8", "-o", "line", path).Output()
		require.NoError(t, err)
		var y int64
		for _, rec := range strings.Split(string(out), "\n\n") {
			for _, line := range strings.Split(rec, "\n") {
				if !strings.HasPrefix(line, "650 ") {
					continue
				}
				if hasJazzA(line) {
					y++
					break
				}
			}
		}
		require.Equal(t, y, n, "yaz-marcdump and pkg/marc disagree")
	}
	return n
}

// hasJazzA reads a yaz "line" field ("650  0 $a Jazz $z ...") for a $a with jazz.
func hasJazzA(line string) bool {
	for _, sf := range strings.Split(line, " $")[1:] {
		if strings.HasPrefix(sf, "a ") && strings.Contains(strings.ToLower(sf), "jazz") {
			return true
		}
	}
	return false
}

func TestMARCFieldConditionOnImportedRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	importFile(t, db, inst, "vendor-bibs", "jazz_1k.mrc")
	total := count(t, db, `SELECT count(*) FROM records WHERE institution = $1`, inst)
	require.Equal(t, int64(1000), total)
	want := jazzCount(t)
	require.Positive(t, want)
	require.Less(t, want, total)

	create := func(name, q string) sets.Set {
		s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: name, Query: q})
		require.NoError(t, err)
		return s
	}
	jazz := create("jazz", `650 $a contains "Jazz"`)
	require.Len(t, snapshot(t, db, jazz.ID), int(want))
	// NOT of a MARC condition: the SQL prefilter must not drop candidates.
	notJazz := create("not jazz", `NOT 650 $a contains "JAZZ"`)
	require.Len(t, snapshot(t, db, notJazz.ID), int(total-want))
	// Mixed with SQL conditions under OR and NOT.
	mixed := create("mixed", `NOT (650 $a contains "jazz" AND NOT title contains "blue") OR suppressed`)
	var wantMixed int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM records r
		WHERE NOT (r.id = ANY($1) AND NOT to_tsvector('simple', r.title) @@ plainto_tsquery('simple', 'blue')) OR r.suppressed`,
		snapshot(t, db, jazz.ID)).Scan(&wantMixed))
	require.Len(t, snapshot(t, db, mixed.ID), int(wantMixed))
	// Positions: LDR/06 j is a musical sound recording.
	ldr := create("ldr", `LDR/06 = "j"`)
	var wantJ int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM records WHERE substr(marc, 7, 1) = 'j'::bytea`).Scan(&wantJ))
	require.Len(t, snapshot(t, db, ldr.ID), int(wantJ))
}

func TestKeyConditions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	importFile(t, db, inst, "vendor-bibs", "jazz_1k.mrc")
	// The first record of the file: 001 03-0018137, 035 (Sirsi) a353305.
	first := ids(t, db, `SELECT record_id FROM record_keys WHERE kind = '001' AND value LIKE '%|03-0018137'`)
	require.Len(t, first, 1)
	for i, q := range []string{`001 = "03-0018137"`, `035 = "(sirsi) a353305"`, `001 = 03-0018137 AND type = bib`} {
		s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: strconv.Itoa(i), Query: q})
		require.NoError(t, err, q)
		require.Equal(t, first, snapshot(t, db, s.ID), q)
	}
	var isbnRec int64
	var isbn string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT record_id, value FROM record_keys WHERE kind = 'isbn' LIMIT 1`).Scan(&isbnRec, &isbn))
	isbn10 := isbn[3:12] // the ISBN-10 form of a 978 ISBN, without its check digit
	_ = isbn10
	s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "isbn", Query: `isbn = "` + isbn + `"`})
	require.NoError(t, err)
	require.Contains(t, snapshot(t, db, s.ID), isbnRec)
}

func TestLogicalSetRefusesUnparsableQueries(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	_, err := sets.CreateLogical(context.Background(), db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "bad", Query: `650 $a contains`})
	var qe *query.Error
	require.ErrorAs(t, err, &qe)
	require.Equal(t, `query: position 16: expected a value after "contains", found the end of the query`, err.Error())
	require.Zero(t, count(t, db, `SELECT count(*) FROM sets`))
}

func TestDeleteIsRefusedWhileAJobRunsOnTheSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.NewDatabase(t)
	s, err := sets.CreateLogical(ctx, db.Pool, sets.NewSet{Institution: inst, CreatedBy: "t", Name: "all", Query: "all"})
	require.NoError(t, err)
	var job int64
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO jobs (institution, type, status, submitted_by, params, priority_class)
		VALUES ('DEMO', 'noop', 'QUEUED', 't', jsonb_build_object('set', $1::bigint), 'default') RETURNING id`, s.ID).Scan(&job))
	err = sets.Delete(ctx, db.Pool, inst, s.ID)
	var iu *sets.InUseError
	require.ErrorAs(t, err, &iu)
	require.Equal(t, job, iu.JobID)
	_, err = db.Pool.Exec(ctx, `UPDATE jobs SET status = 'USER_ABORTED', ended_at = now() WHERE id = $1`, job)
	require.NoError(t, err)
	require.ErrorIs(t, sets.Delete(ctx, db.Pool, "DEMO2", s.ID), sets.ErrNotFound)
	require.NoError(t, sets.Delete(ctx, db.Pool, inst, s.ID))
	_, err = sets.Get(ctx, db.Pool, inst, s.ID)
	require.ErrorIs(t, err, sets.ErrNotFound)
	// A snapshot of a set that is gone.
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := sets.Snapshot(ctx, tx, inst, s.ID, job)
		require.ErrorIs(t, err, sets.ErrNotFound)
		return nil
	}))
}
