package publishing

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
)

// writeBuffer is the buffer between records and the file: large writes,
// few system calls.
const writeBuffer = 1 << 20

// fileName is the name of a chunk's file: <prefix>_<job>_<seq>[_deletes].<ext>,
// seq counting from 1 within the records files and within the deletes files.
func (r *run) fileName(seq int) (name string, deletes bool) {
	n, suffix := seq+1, ""
	if seq >= r.DeleteFromSeq {
		n, suffix, deletes = seq-r.DeleteFromSeq+1, "_deletes", true
	}
	return fmt.Sprintf("%s_%d_%05d%s.%s", r.Prefix, r.JobID, n, suffix, r.ext()), deletes
}

func (r *run) ext() string {
	ext := "mrc"
	if r.Profile.Format == "marcxml" {
		ext = "xml"
	}
	if r.Profile.Gzip {
		ext += ".gz"
	}
	return ext
}

// tmpPattern matches the temporary files of the run (for clean-up).
func (r *run) tmpPattern() string {
	return filepath.Join(r.Profile.Directory, fmt.Sprintf(".%s_%d_*.tmp", r.Prefix, r.JobID))
}

// output is one file being written: records → [gzip] → buffer → file and
// SHA-256 together.
type output struct {
	f     *os.File
	path  string
	gz    *gzip.Writer
	bw    *bufio.Writer
	w     io.Writer // where records go
	sum   hash.Hash
	bytes int64
}

func create(dir, name string, gz bool) (*output, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("publishing directory: %w", err)
	}
	var token [6]byte
	_, _ = rand.Read(token[:])
	path := filepath.Join(dir, "."+name+"."+hex.EncodeToString(token[:])+".tmp")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	o := &output{f: f, path: path, sum: sha256.New()}
	o.bw = bufio.NewWriterSize(o, writeBuffer)
	o.w = o.bw
	if gz {
		o.gz, _ = gzip.NewWriterLevel(o.bw, gzip.BestSpeed)
		o.w = o.gz
	}
	return o, nil
}

// Write is what the buffer flushes into: the file and the checksum.
func (o *output) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	o.sum.Write(p[:n])
	o.bytes += int64(n)
	return n, err
}

// close flushes and closes the file, keeping it.
func (o *output) close() error {
	var err error
	if o.gz != nil {
		err = o.gz.Close()
	}
	if ferr := o.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// discard closes and removes the file.
func (o *output) discard() {
	_ = o.f.Close()
	_ = os.Remove(o.path)
}

// process streams the chunk's records into its file and registers the file.
func process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) (err error) {
	r, err := load(ctx, tx, job.ID)
	if err != nil {
		return err
	}
	name, deletes := r.fileName(c.Seq)
	out, err := create(r.Profile.Directory, name, r.Profile.Gzip)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", c.Seq, err)
	}
	kept := false
	defer func() {
		if !kept {
			out.discard()
		}
	}()
	from, key, filter := r.source(deletes)
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT r.id, r.marc FROM %s WHERE %s%s AND %s BETWEEN $4 AND $5 ORDER BY %s`,
		from, r.population(), filter, key, key), pgx.QueryResultFormats{pgx.BinaryFormatCode, pgx.BinaryFormatCode},
		r.JobID, r.Institution, deletes, c.Lo, c.Hi)
	if err != nil {
		return err
	}
	defer rows.Close()
	var written int64
	if r.Profile.Format == "marcxml" {
		written, err = writeXML(ctx, rows, out.w, deletes, res)
	} else {
		written, err = writeISO2709(ctx, rows, out.w, deletes, res)
	}
	if err != nil {
		return fmt.Errorf("chunk %d: %w", c.Seq, err)
	}
	counter := Published
	if deletes {
		counter = Deleted
	}
	res.Count(counter, written)
	if written == 0 {
		return nil // the chunk's records went away since it was planned: no file
	}
	if err := out.close(); err != nil {
		return fmt.Errorf("chunk %d: write %s: %w", c.Seq, out.path, err)
	}
	kind := "records"
	if deletes {
		kind = "deletes"
	}
	_, err = tx.Exec(ctx, `INSERT INTO job_files (job_id, name, kind, chunk_seq, directory, tmp_name, records, bytes, sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (job_id, name) DO UPDATE SET tmp_name = excluded.tmp_name, records = excluded.records,
			bytes = excluded.bytes, sha256 = excluded.sha256, created_at = now()`,
		job.ID, name, kind, c.Seq, r.Profile.Directory, filepath.Base(out.path), written, out.bytes, hex.EncodeToString(out.sum.Sum(nil)))
	if err != nil {
		return err
	}
	res.Count(Files, 1)
	kept = true
	return nil
}

// idOf decodes a binary int8 column.
func idOf(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("record id: %d bytes, want 8", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// writeISO2709 copies the stored records (ISO 2709 in UTF-8, as
// marc.Marshal wrote them) as they are; a deleted record's leader/05 says
// 'd'. No record is decoded and nothing is allocated per record.
func writeISO2709(ctx context.Context, rows pgx.Rows, w io.Writer, deletes bool, res *jobs.ChunkResult) (int64, error) {
	var n int64
	for rows.Next() {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		v := rows.RawValues()
		raw := v[1]
		if len(raw) < 24 || raw[len(raw)-1] != 0x1D {
			id, err := idOf(v[0])
			if err != nil {
				return n, err
			}
			res.Count(Failed, 1)
			res.Report(strconv.FormatInt(id, 10), jobs.OutcomeError, "stored record is not ISO 2709 (no leader or no record terminator); not published")
			continue
		}
		var err error
		if deletes && raw[5] != 'd' {
			if _, err = w.Write(raw[:5]); err == nil {
				if _, err = w.Write(deleted[:]); err == nil {
					_, err = w.Write(raw[6:])
				}
			}
		} else {
			_, err = w.Write(raw)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

var deleted = [1]byte{'d'}

// rowsReader serves the stored records of rows, one after the other, as one
// ISO 2709 stream, remembering the id of each record it starts.
type rowsReader struct {
	rows pgx.Rows
	cur  []byte
	ids  []int64
}

func (r *rowsReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		v := r.rows.RawValues()
		id, err := idOf(v[0])
		if err != nil {
			return 0, err
		}
		r.ids = append(r.ids, id)
		r.cur = v[1]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// writeXML reads the stored records back into the model and writes them as
// a MARCXML collection; a record XML cannot hold is reported, not written.
func writeXML(ctx context.Context, rows pgx.Rows, w io.Writer, deletes bool, res *jobs.ChunkResult) (int64, error) {
	src := &rowsReader{rows: rows}
	br, err := marc.NewBinaryReader(src, nil)
	if err != nil {
		return 0, err
	}
	xw := marc.NewXMLWriter(w)
	var n int64
	var rec marc.Record
	for i := 0; ; i++ {
		if i&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		err := br.ReadRecord(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		id := "?"
		if i < len(src.ids) {
			id = strconv.FormatInt(src.ids[i], 10)
		}
		var me *marc.Error
		if errors.As(err, &me) {
			res.Count(Failed, 1)
			res.Report(id, jobs.OutcomeError, "stored record unreadable: "+err.Error()+"; not published")
			continue
		}
		if err != nil {
			return n, err
		}
		if deletes {
			rec.Leader[5] = 'd'
		}
		if err := xw.Write(&rec); err != nil {
			if errors.As(err, &me) {
				res.Count(Failed, 1)
				res.Report(id, jobs.OutcomeError, "cannot be written as MARCXML: "+err.Error())
				continue
			}
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, xw.Close()
}
