// Package staging reads an uploaded MARC file and copies its records into
// import_staging, inside the caller's transaction, so a job and its file
// commit or roll back together. The records are staged in groups of the
// job type's chunk size, one row each (see migration 0014), so that each
// chunk of the job reads one row. The file is streamed: the server holds
// one group at a time.
package staging

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/marc"
)

// Result is what was staged.
type Result struct {
	Format  string `json:"format"` // marc21 | marcxml, as read
	Bytes   int64  `json:"bytes"`
	Records int64  `json:"records"` // records staged, unreadable ones included
	// Unreadable are the records staged with an error, no record: those
	// that could not be framed (binary) or read (MARCXML). A framed record
	// can still fail to decode in its chunk, rejected as unreadable then.
	Unreadable int64 `json:"unreadable"`
}

// Errors of the upload itself (the client's fault, not the server's).
var (
	// ErrEmpty is a file with no byte but white space in it.
	ErrEmpty = errors.New("the file is empty")
	// ErrRead wraps an error reading the upload (it broke off, or ended early).
	ErrRead = errors.New("reading the upload")
)

// Stage reads r with the profile's settings (the format is sniffed from the
// content: '<' first means MARCXML) and copies its records into
// import_staging under jobID, groupSize records (by ordinal) to a row: a
// binary file's records framed but not parsed (their bytes as in the file),
// a MARCXML file's as marc.Marshal writes them (UTF-8 ISO 2709). Records
// that cannot be framed or read are staged as a note with their error, so
// the job reports them as rejected. It also writes the job's import_files
// row (the profile as of now, and how to decode the staged records). An
// error reading r (a broken upload) is returned: the caller rolls back and
// nothing is left behind.
func Stage(ctx context.Context, tx pgx.Tx, jobID int64, r io.Reader, p *config.ImportProfile, groupSize int) (Result, error) {
	var res Result
	if groupSize < 1 {
		return res, fmt.Errorf("staging: group size %d, want at least 1", groupSize)
	}
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	xml, err := sniffXML(br)
	if err != nil {
		return res, err
	}
	src := &source{jobID: jobID, size: groupSize}
	encoding := marc.EncodingUTF8
	if xml {
		res.Format = "marcxml"
		src.next = xmlRecords(marc.NewXMLReader(br, nil))
	} else {
		res.Format = "marc21"
		if encoding, err = marc.ParseEncoding(p.Encoding); err != nil {
			return res, err
		}
		rd, err := marc.NewBinaryReader(br, &marc.BinaryReaderOptions{Encoding: encoding})
		if err != nil {
			return res, err
		}
		src.next = binaryRecords(rd)
	}
	rows := compressAhead(src, runtime.GOMAXPROCS(0))
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"import_staging"},
		[]string{"job_id", "first_ord", "records", "raw", "notes", "codec"}, rows)
	rows.close()
	if src.err != nil {
		return res, src.err
	}
	if err != nil {
		return res, fmt.Errorf("stage records: %w", err)
	}
	res.Bytes, res.Records, res.Unreadable = cr.n, src.ord, src.unreadable
	profile, err := json.Marshal(p)
	if err != nil {
		return res, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO import_files (job_id, profile_id, profile, format, bytes, records, unreadable, raw_encoding)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, jobID, p.ID, profile, res.Format, res.Bytes, res.Records, res.Unreadable, encoding.String())
	if err != nil {
		return res, fmt.Errorf("stage file: %w", err)
	}
	return res, nil
}

// xmlRecords reads MARCXML records as marc.Marshal re-encodes them, with
// the reader's warnings.
func xmlRecords(rd *marc.XMLReader) func() (staged, error) {
	return func() (staged, error) {
		rec, err := rd.Read()
		if err != nil {
			return staged{}, err
		}
		b, err := marc.Marshal(rec)
		if err != nil {
			return staged{failed: "cannot be stored: " + err.Error()}, nil
		}
		st := staged{bytes: b, offset: -1}
		for _, w := range rec.Warnings {
			st.warnings = append(st.warnings, w.Error())
		}
		return st, nil
	}
}

// binaryRecords frames the records of a binary file.
func binaryRecords(rd *marc.BinaryReader) func() (staged, error) {
	return func() (staged, error) {
		raw, err := rd.ReadRaw()
		if err != nil {
			return staged{}, err
		}
		return staged{bytes: raw.Bytes, offset: raw.Offset, framing: raw.Warnings}, nil
	}
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

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
