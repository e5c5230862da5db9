// Package staging reads an uploaded MARC file record by record and copies
// the records into import_staging, inside the caller's transaction, so a job
// and its file commit or roll back together. The file is streamed: memory
// does not grow with its size.
package staging

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// Result is what was staged.
type Result struct {
	Format     string `json:"format"` // marc21 | marcxml, as read
	Bytes      int64  `json:"bytes"`
	Records    int64  `json:"records"`    // rows staged, unreadable ones included
	Unreadable int64  `json:"unreadable"` // staged with an error, no record
}

// Errors of the upload itself (the client's fault, not the server's).
var (
	// ErrEmpty is a file with no byte but white space in it.
	ErrEmpty = errors.New("the file is empty")
	// ErrRead wraps an error reading the upload (it broke off, or ended early).
	ErrRead = errors.New("reading the upload")
)

// Stage reads r with the profile's settings (the format is sniffed from the
// content: '<' first means MARCXML) and copies every record into
// import_staging under jobID: readable records as marc.Marshal writes them
// (UTF-8 ISO 2709), unreadable ones with their error, so the job reports them
// as rejected. It also writes the job's import_files row (the profile as of
// now). An error reading r (a broken upload) is returned: the caller rolls
// back and nothing is left behind.
func Stage(ctx context.Context, tx pgx.Tx, jobID int64, r io.Reader, p *config.ImportProfile) (Result, error) {
	var res Result
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	xml, err := sniffXML(br)
	if err != nil {
		return res, err
	}
	src := &source{}
	if xml {
		res.Format = "marcxml"
		src.read = marc.NewXMLReader(br, nil).Read
	} else {
		res.Format = "marc21"
		enc, err := marc.ParseEncoding(p.Encoding)
		if err != nil {
			return res, err
		}
		rd, err := marc.NewBinaryReader(br, &marc.BinaryReaderOptions{Encoding: enc})
		if err != nil {
			return res, err
		}
		src.read = rd.Read
	}
	src.jobID = jobID
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"import_staging"},
		[]string{"job_id", "ord", "byte_offset", "raw", "error", "warnings"}, src)
	if src.err != nil {
		return res, src.err
	}
	if err != nil {
		return res, fmt.Errorf("stage records: %w", err)
	}
	res.Bytes, res.Records, res.Unreadable = cr.n, n, src.unreadable
	profile, err := json.Marshal(p)
	if err != nil {
		return res, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO import_files (job_id, profile_id, profile, format, bytes, records, unreadable)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, jobID, p.ID, profile, res.Format, res.Bytes, res.Records, res.Unreadable)
	if err != nil {
		return res, fmt.Errorf("stage file: %w", err)
	}
	return res, nil
}

// sniffXML reports whether the content starts, after white space and a
// byte-order mark, with '<'.
func sniffXML(br *bufio.Reader) (bool, error) {
	for {
		b, err := br.Peek(1)
		if errors.Is(err, io.EOF) {
			return false, ErrEmpty
		}
		if err != nil {
			return false, fmt.Errorf("%w: %w", ErrRead, err)
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
			continue
		case 0xEF:
			if bom, _ := br.Peek(3); string(bom) == "\xEF\xBB\xBF" {
				_, _ = br.Discard(3)
				continue
			}
		}
		return b[0] == '<', nil
	}
}

// source is the COPY source: one row per record read.
type source struct {
	read       func() (*marc.Record, error)
	jobID      int64
	ord        int64
	row        []any
	err        error
	unreadable int64
}

func (s *source) Next() bool {
	rec, err := s.read()
	if errors.Is(err, io.EOF) {
		return false
	}
	s.ord++
	var me *marc.Error
	switch {
	case errors.As(err, &me):
		s.unreadable++
		var off any
		if me.Offset > 0 || me.Ordinal > 0 {
			off = me.Offset
		}
		s.row = []any{s.jobID, s.ord, off, nil, me.Error(), ""}
		return true
	case err != nil:
		s.err = fmt.Errorf("%w: %w", ErrRead, err)
		return false
	}
	raw, err := marc.Marshal(rec)
	if err != nil {
		s.unreadable++
		s.row = []any{s.jobID, s.ord, nil, nil, "cannot be stored: " + err.Error(), ""}
		return true
	}
	s.row = []any{s.jobID, s.ord, nil, raw, "", warnings(rec)}
	return true
}

func (s *source) Values() ([]any, error) { return s.row, nil }
func (s *source) Err() error             { return s.err }

func warnings(rec *marc.Record) string {
	if len(rec.Warnings) == 0 {
		return ""
	}
	ws := make([]string, len(rec.Warnings))
	for i, w := range rec.Warnings {
		ws[i] = w.Error()
	}
	return strings.Join(ws, "; ")
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
