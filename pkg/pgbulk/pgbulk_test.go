package pgbulk_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/pgbulk"
	"github.com/bindery/bindery/pkg/testenv"
)

// TestExec: arguments of every shape reach PostgreSQL as tx.Exec would send
// them (arrays of blobs and strings, scalars, NULL), in the transaction, and
// a statement runs again on the same connection (prepared once).
func TestExec(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint, n int, blob bytea, s text, note text)`)
	require.NoError(t, err)
	blobs := [][]byte{bytes.Repeat([]byte{0, 0x1d, 0xff}, 100000), {}, []byte("x")}
	const insert = `INSERT INTO t SELECT u.id, u.n, u.blob, u.s, $5 FROM unnest($1::bigint[], $2::int[], $3::bytea[], $4::text[]) AS u(id, n, blob, s)`
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for round := range 2 {
			tag, err := pgbulk.Exec(ctx, tx, insert, []int64{1, 2, 3}, []int32{int32(round), 5, 6}, blobs, []string{"ä", "", "z"}, nil)
			if err != nil {
				return err
			}
			require.EqualValues(t, 3, tag.RowsAffected())
		}
		return nil
	}))
	rows, err := db.Pool.Query(ctx, `SELECT blob, s, note IS NULL FROM t ORDER BY id, n`)
	require.NoError(t, err)
	type row struct {
		blob   []byte
		s      string
		noNote bool
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.blob, &x.s, &x.noNote)
	})
	require.NoError(t, err)
	require.Len(t, got, 6)
	require.True(t, bytes.Equal(blobs[0], got[0].blob) && bytes.Equal(blobs[0], got[1].blob), "the 300 KB blob, both rounds")
	require.Equal(t, "ä", got[0].s)
	require.True(t, got[0].noNote)
	require.Equal(t, []byte{}, got[2].blob)
	require.Equal(t, "z", got[5].s)

	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := pgbulk.Exec(ctx, tx, insert, []int64{1})
		return err
	})
	require.ErrorContains(t, err, "1 arguments for the 5 parameters")
}

// TestCopy: rows written in the binary COPY format arrive as written, NULLs
// and empty values included; a value of the wrong type is PostgreSQL's
// error, and nothing is copied.
func TestCopy(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint, "Name" text, blob bytea, note text)`)
	require.NoError(t, err)
	rows := pgbulk.NewRows(0)
	for i := range int64(1000) {
		rows.Row(4)
		rows.Int8(i - 500)
		rows.Text(strings.Repeat("é", int(i%3)))
		rows.Bytes([]byte{byte(i), 0, 0x1d})
		if i%2 == 0 {
			rows.Null()
		} else {
			rows.Text("odd")
		}
	}
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		n, err := pgbulk.Copy(ctx, tx, "t", []string{"id", "Name", "blob", "note"}, rows)
		require.EqualValues(t, 1000, n)
		return err
	}))
	var sum, nulls, empty int64
	var blob []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT sum(id), count(*) FILTER (WHERE note IS NULL), count(*) FILTER (WHERE "Name" = ''),
		(SELECT blob FROM t WHERE id = -499) FROM t`).Scan(&sum, &nulls, &empty, &blob))
	require.EqualValues(t, -500, sum)
	require.EqualValues(t, 500, nulls)
	require.EqualValues(t, 334, empty)
	require.Equal(t, []byte{1, 0, 0x1d}, blob)

	wrong := pgbulk.NewRows(0)
	wrong.Row(1)
	wrong.Text("not a bigint")
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := pgbulk.Copy(ctx, tx, "t", []string{"id"}, wrong)
		return err
	})
	require.ErrorContains(t, err, "binary data format")
}
