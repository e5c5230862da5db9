package marc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
)

// Decoder unmarshals binary records one at a time, each exactly as Unmarshal
// would, but reuses its read buffer and scratch from one call to the next
// and cuts the records' text, fields and subfields from shared slabs: a
// Metadata Import chunk decodes a thousand records with a few allocations
// instead of a reader per record. The records it returns stay valid (later
// calls never overwrite them). The zero value is ready to use and decodes
// with the default options (NewDecoder for others); a Decoder is not safe
// for concurrent use.
type Decoder struct {
	src bytes.Reader
	r   BinaryReader
}

// NewDecoder returns a Decoder that decodes as a BinaryReader with opts
// reads (the encoding, strictness, longest record). opts may be nil for the
// defaults.
func NewDecoder(opts *BinaryReaderOptions) (*Decoder, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	d := &Decoder{}
	d.r.opts = o
	return d, nil
}

// Unmarshal parses one binary record (the first in data).
func (d *Decoder) Unmarshal(data []byte) (*Record, error) {
	return d.UnmarshalRaw(RawRecord{Bytes: data, Ordinal: 1})
}

// UnmarshalRaw parses the record ReadRaw framed: the record, or the error,
// Read would have returned for it, with its ordinal, offset and framing
// warnings (given in raw, e.g. kept from a ReadRaw of another process).
func (d *Decoder) UnmarshalRaw(raw RawRecord) (*Record, error) {
	body, err := d.frame(raw)
	if err != nil {
		return nil, err
	}
	rec := new(Record)
	if err := d.r.build(rec, body); err != nil {
		return nil, err
	}
	return rec, nil
}

// frame frames raw as ReadRaw framed it and returns the record's bytes
// without terminator (a copy in the decoder's buffer), with raw's framing
// warnings first among the parser's.
func (d *Decoder) frame(raw RawRecord) ([]byte, error) {
	d.src.Reset(raw.Bytes)
	if d.r.opts.MaxRecordLength == 0 {
		d.r.opts = (*BinaryReaderOptions)(nil).withDefaults()
	}
	if d.r.br == nil {
		d.r.br = bufio.NewReaderSize(&d.src, readBufferSize)
	} else {
		d.r.br.Reset(&d.src)
	}
	ordinal := max(raw.Ordinal, 1)
	// A fresh stream: nothing of the previous record's input carries over.
	d.r.offset, d.r.ordinal, d.r.pending = raw.Offset, ordinal-1, nil
	d.r.p.reuse = false
	body, err := d.r.next()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Ordinal: ordinal, Offset: raw.Offset, Err: ErrMalformed, Msg: "no record in " + strconv.Itoa(len(raw.Bytes)) + " bytes"}
	}
	if err != nil {
		return nil, err
	}
	d.r.p.prependWarnings(raw.Warnings)
	return body, nil
}
