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
// calls never overwrite them). The zero value is ready to use; a Decoder is
// not safe for concurrent use.
type Decoder struct {
	src bytes.Reader
	r   BinaryReader
}

// Unmarshal parses one binary record (the first in data) with the default
// options.
func (d *Decoder) Unmarshal(data []byte) (*Record, error) {
	d.src.Reset(data)
	if d.r.br == nil {
		d.r.opts = (*BinaryReaderOptions)(nil).withDefaults()
		d.r.br = bufio.NewReaderSize(&d.src, readBufferSize)
	} else {
		d.r.br.Reset(&d.src)
	}
	// A fresh stream: nothing of the previous record's input carries over.
	d.r.offset, d.r.ordinal, d.r.pending = 0, 0, nil
	rec, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Ordinal: 1, Err: ErrMalformed, Msg: "no record in " + strconv.Itoa(len(data)) + " bytes"}
	}
	return rec, err
}
