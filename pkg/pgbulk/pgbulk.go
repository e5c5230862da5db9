// Package pgbulk writes bulk data to PostgreSQL at less CPU than pgx's
// general paths: statements whose arguments are large (arrays of whole
// records, a compressed blob), and COPY of many rows.
package pgbulk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Exec is tx.Exec for statements whose arguments are large: arrays of
// whole records, a compressed blob. pgx encodes each argument into a buffer
// that starts at 256 bytes and doubles as it goes, so a 1 MB bytea[] costs
// about 5 MB of allocation and copying: measured, 2.5 ms against 0.4 ms for
// 1,000 records of 950 bytes. Exec encodes the arguments with the
// connection's own type map into one buffer sized for them up front, and
// runs the statement prepared once per connection.
func Exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) (pgconn.CommandTag, error) {
	conn := tx.Conn()
	sum := sha256.Sum256([]byte(sql))
	sd, err := conn.Prepare(ctx, "bulk_"+hex.EncodeToString(sum[:12]), sql)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	if len(sd.ParamOIDs) != len(args) {
		return pgconn.CommandTag{}, fmt.Errorf("%d arguments for the %d parameters of %q", len(args), len(sd.ParamOIDs), sql)
	}
	m := conn.TypeMap()
	buf := make([]byte, 0, encodedSize(args))
	values := make([][]byte, len(args))
	formats := make([]int16, len(args))
	for i, arg := range args {
		formats[i] = m.FormatCodeForOID(sd.ParamOIDs[i])
		start := len(buf)
		b, err := m.Encode(sd.ParamOIDs[i], formats[i], arg, buf)
		if err != nil {
			return pgconn.CommandTag{}, fmt.Errorf("argument %d: %w", i+1, err)
		}
		if b == nil { // NULL
			continue
		}
		buf, values[i] = b, b[start:]
	}
	return conn.PgConn().ExecPrepared(ctx, sd.Name, values, formats, nil).Close()
}

// encodedSize is about the size of args in PostgreSQL's binary format.
func encodedSize(args []any) int {
	const header = 24 // an array's: dimensions, flags, element type, bounds
	n := 0
	for _, arg := range args {
		switch v := arg.(type) {
		case []byte:
			n += len(v)
		case string:
			n += len(v)
		case [][]byte:
			n += header
			for _, b := range v {
				n += 4 + len(b)
			}
		case []string:
			n += header
			for _, s := range v {
				n += 4 + len(s)
			}
		case []int64:
			n += header + 12*len(v)
		case []int32:
			n += header + 8*len(v)
		default:
			n += 16
		}
	}
	return n
}

// Rows is the data of a COPY in PostgreSQL's binary format, written
// directly: pgx's CopyFrom looks up an encode plan for every value through
// its type map, which was most of its cost for an import's new records and
// key rows. Each value must be of its column's type: Int8 for bigint, Text
// for text, Bytes for bytea (a mismatch is an error from PostgreSQL).
type Rows struct {
	buf []byte
}

// copyHeader is the binary COPY signature, flags and header extension
// length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// NewRows returns rows for about size bytes of values.
func NewRows(size int) *Rows {
	return &Rows{buf: append(make([]byte, 0, len(copyHeader)+size+2), copyHeader...)}
}

// Row starts a row of n values.
func (r *Rows) Row(n int) { r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(n)) }

// Int8 adds a bigint.
func (r *Rows) Int8(v int64) {
	r.buf = binary.BigEndian.AppendUint32(r.buf, 8)
	r.buf = binary.BigEndian.AppendUint64(r.buf, uint64(v))
}

// Text adds a text value.
func (r *Rows) Text(s string) {
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(len(s)))
	r.buf = append(r.buf, s...)
}

// Bytes adds a bytea value.
func (r *Rows) Bytes(b []byte) {
	r.buf = binary.BigEndian.AppendUint32(r.buf, uint32(len(b)))
	r.buf = append(r.buf, b...)
}

// Null adds a NULL.
func (r *Rows) Null() { r.buf = binary.BigEndian.AppendUint32(r.buf, 0xFFFFFFFF) }

// Copy copies rows into table's columns, in tx, and returns the number of
// rows copied.
func Copy(ctx context.Context, tx pgx.Tx, table string, columns []string, rows *Rows) (int64, error) {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := "COPY " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(cols, ", ") + ") FROM STDIN (FORMAT binary)"
	data := binary.BigEndian.AppendUint16(rows.buf, 0xFFFF) // trailer
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	return tag.RowsAffected(), err
}
