package staging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/bindery/bindery/pkg/marc"
)

// note is what a group's raw does not say about one of its records.
type note struct {
	Ord int64 `json:"ord"`
	// Offset is where a binary record starts in the file, when not where
	// the group's previous record ended (junk or stray bytes in between,
	// an unreadable record, a terminator added), so warnings say where.
	Offset *int64 `json:"offset,omitempty"`
	// Error is why the record is not in raw.
	Error string `json:"error,omitempty"`
	// Framing are a binary record's framing warnings (see
	// marc.RawRecord), given back to the decoder.
	Framing []framing `json:"framing,omitempty"`
	// Warnings are a MARCXML record's warnings, as read.
	Warnings []string `json:"warnings,omitempty"`
}

type framing struct {
	Offset int64  `json:"offset"`
	Msg    string `json:"msg"`
}

// staged is one record read from the upload.
type staged struct {
	bytes    []byte // ending in its record terminator
	offset   int64  // in the file; -1 for MARCXML (no use for it)
	framing  []*marc.Error
	warnings []string
	failed   string // why a record read cannot be staged
}

// source is the COPY source: one row per group of size ordinals.
type source struct {
	next  func() (staged, error)
	jobID int64
	size  int

	ord        int64 // ordinals read so far
	unreadable int64
	raw        []byte
	notes      []note
	end        int64 // where the last record in raw ended in the file; -1 none
	eof        bool
	row        []any
	err        error
}

// Next reads the next group.
func (s *source) Next() bool {
	if s.eof {
		return false
	}
	first := s.ord + 1
	s.raw, s.notes, s.end = s.raw[:0], s.notes[:0], -1
	for s.ord-first+1 < int64(s.size) {
		st, err := s.next()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		var me *marc.Error
		if err != nil && !errors.As(err, &me) {
			s.err = fmt.Errorf("%w: %w", ErrRead, err)
			return false
		}
		s.ord++
		if me != nil {
			st.failed = me.Error()
		}
		if st.failed != "" {
			s.unreadable++
			s.notes = append(s.notes, note{Ord: s.ord, Error: st.failed})
			continue
		}
		s.add(st)
	}
	n := s.ord - first + 1
	if n == 0 {
		return false
	}
	raw := s.raw
	s.raw = getBuf(len(raw)) // raw is compressed on another goroutine meanwhile
	var notes any            // NULL when there are none
	if len(s.notes) > 0 {
		b, err := json.Marshal(s.notes)
		if err != nil {
			s.err = err
			return false
		}
		notes = b
	}
	s.row = []any{s.jobID, first, int32(n), raw, notes, codecS2}
	return true
}

// add appends one record to the group, with a note when raw does not say
// all there is to say about it.
func (s *source) add(st staged) {
	nt := note{Ord: s.ord, Warnings: st.warnings}
	if st.offset >= 0 && st.offset != s.end && !(st.offset == 0 && s.end < 0) {
		off := st.offset
		nt.Offset = &off
	}
	for _, w := range st.framing {
		nt.Framing = append(nt.Framing, framing{Offset: w.Offset, Msg: w.Msg})
	}
	if nt.Offset != nil || len(nt.Framing) > 0 || len(nt.Warnings) > 0 {
		s.notes = append(s.notes, nt)
	}
	s.raw = append(s.raw, st.bytes...)
	if st.offset >= 0 {
		s.end = st.offset + int64(len(st.bytes))
	}
}

// codecS2 is import_staging.codec for a group compressed with S2 (see
// migration 0017: PostgreSQL's cost is per byte stored, so the server
// compresses).
const codecS2 = "s2"

// compressing is the COPY source Stage uses: the groups of src, read on
// one goroutine and S2-compressed on up to workers others, in order, while
// COPY sends the previous ones.
type compressing struct {
	order chan chan []any // each group's row, in file order, once compressed
	stop  chan struct{}
	src   *source
	row   []any
	err   error // the source's, once order is closed
}

// bufs recycles the groups' buffers (~1 MB each), raw and compressed: a
// fresh one per group cost the server a third of its staging CPU in
// zeroing and garbage collection.
var bufs sync.Pool

func getBuf(n int) []byte {
	if b, ok := bufs.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) { bufs.Put(&b) }

func compressAhead(src *source, workers int) *compressing {
	c := &compressing{order: make(chan chan []any, workers), stop: make(chan struct{}), src: src}
	go func() {
		defer close(c.order)
		for {
			select { // stopped: read no more of the upload
			case <-c.stop:
				return
			default:
			}
			if !src.Next() {
				return
			}
			row := src.row
			done := make(chan []any, 1)
			select {
			case c.order <- done:
			case <-c.stop:
				return
			}
			go func() {
				raw := row[3].([]byte)
				n := s2.MaxEncodedLen(len(raw))
				row[3] = s2.Encode(getBuf(n)[:n], raw)
				putBuf(raw)
				done <- row
			}()
		}
	}()
	return c
}

func (c *compressing) Next() bool {
	if c.row != nil { // COPY has encoded it by now
		putBuf(c.row[3].([]byte))
		c.row = nil
	}
	done, ok := <-c.order
	if !ok {
		c.err = c.src.err // the reader is done with it
		return false
	}
	c.row = <-done
	return true
}

func (c *compressing) Values() ([]any, error) { return c.row, nil }

// Err is the source's error, once Next has said false (COPY asks after
// every batch of rows, while the reader may still be at work).
func (c *compressing) Err() error { return c.err }

// close stops reading ahead (COPY may end before the source does).
func (c *compressing) close() {
	close(c.stop)
	for range c.order { // let the reader finish its group
	}
}

// Record is one ordinal of a staged group: a record to decode (Raw, to be
// given to a marc.Decoder's UnmarshalRaw), or why there is none (Error).
type Record struct {
	Ord   int64
	Raw   marc.RawRecord
	Error string
	// Warnings are what reading a MARCXML record found (the decoder finds
	// a binary record's).
	Warnings []string
}

// Split cuts a group's row (codec, raw and notes as stored; codec "" for
// none) into its records, from first on, count of them. An error is a row
// that does not hold count records: the caller should treat the group as
// lost.
func Split(first int64, count int, codec string, raw, notes []byte) ([]Record, error) {
	switch codec {
	case "":
	case codecS2:
		var err error
		if raw, err = s2.Decode(nil, raw); err != nil {
			return nil, fmt.Errorf("staged group %d: %w", first, err)
		}
	default:
		return nil, fmt.Errorf("staged group %d: unknown codec %q", first, codec)
	}
	var ns []note
	if len(notes) > 0 {
		if err := json.Unmarshal(notes, &ns); err != nil {
			return nil, fmt.Errorf("staged group %d: notes: %w", first, err)
		}
	}
	out := make([]Record, count)
	var end int64 // where the previous record ended in the file
	for i := range out {
		r := &out[i]
		r.Ord = first + int64(i)
		r.Raw.Ordinal = int(r.Ord)
		r.Raw.Offset = end
		for len(ns) > 0 && ns[0].Ord == r.Ord {
			n := ns[0]
			ns = ns[1:]
			if n.Error != "" {
				r.Error = n.Error
			}
			if n.Offset != nil {
				r.Raw.Offset = *n.Offset
			}
			for _, w := range n.Framing {
				r.Raw.Warnings = append(r.Raw.Warnings, &marc.Error{Ordinal: r.Raw.Ordinal, Offset: w.Offset, Msg: w.Msg})
			}
			r.Warnings = append(r.Warnings, n.Warnings...)
		}
		if r.Error != "" {
			continue
		}
		k := bytes.IndexByte(raw, 0x1D)
		if k < 0 {
			return nil, fmt.Errorf("staged group %d: no record %d in raw", first, r.Ord)
		}
		r.Raw.Bytes, raw = raw[:k+1], raw[k+1:]
		end = r.Raw.Offset + int64(k+1)
	}
	if len(raw) > 0 || len(ns) > 0 {
		return nil, fmt.Errorf("staged group %d: more than its %d records", first, count)
	}
	return out, nil
}
