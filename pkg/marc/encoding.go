package marc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bindery/bindery/pkg/marc8"
)

// Encoding selects how a reader decodes the text of binary records.
type Encoding int

const (
	// EncodingAuto (the default) decides per record: leader/09 'a' claims UTF-8 and
	// blank claims MARC-8, but the bytes decide. A record without ESC whose non-ASCII
	// bytes are all valid UTF-8 is UTF-8 whatever leader/09 says; a record with
	// MARC-8 escape sequences and no multi-byte UTF-8 is MARC-8; otherwise the flag
	// wins. A disagreement between flag and bytes is a warning (an error in strict
	// mode).
	EncodingAuto Encoding = iota
	// EncodingUTF8 reads every record as UTF-8 whatever leader/09 says.
	EncodingUTF8
	// EncodingMARC8 reads every record as MARC-8 whatever leader/09 says.
	EncodingMARC8
)

// String returns the name ParseEncoding accepts.
func (e Encoding) String() string {
	switch e {
	case EncodingAuto:
		return "auto"
	case EncodingUTF8:
		return "utf8"
	case EncodingMARC8:
		return "marc8"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// ParseEncoding parses "auto", "utf8" (or "utf-8") and "marc8" (or "marc-8"),
// ignoring case.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return EncodingAuto, nil
	case "utf8", "utf-8":
		return EncodingUTF8, nil
	case "marc8", "marc-8":
		return EncodingMARC8, nil
	}
	return 0, fmt.Errorf("unknown encoding %q (want auto, utf8 or marc8)", s)
}

// textKind is what a record's text turned out to be.
type textKind uint8

const (
	textUTF8    textKind = iota // valid UTF-8 (or plain ASCII): values are used as they are
	textBadUTF8                 // UTF-8 with invalid bytes: values are repaired
	textMARC8                   // MARC-8: values are converted
)

const esc = 0x1B

// encodingVerdict is the decision for one record and, when flag and bytes
// disagree, what to say about it.
type encodingVerdict struct {
	kind textKind
	msg  string // a warning, or ""
}

// decideEncoding looks at the bytes of a record's data area and its
// leader/09 claim.
func decideEncoding(rec []byte, flag byte, want Encoding) encodingVerdict {
	ascii := isASCII(rec)
	hasESC := bytes.IndexByte(rec, esc) >= 0
	switch want {
	case EncodingUTF8:
		if ascii || utf8.Valid(rec) {
			return encodingVerdict{kind: textUTF8}
		}
		return encodingVerdict{kind: textBadUTF8}
	case EncodingMARC8:
		if ascii && !hasESC {
			return encodingVerdict{kind: textUTF8} // plain ASCII reads the same
		}
		return encodingVerdict{kind: textMARC8}
	}

	var unknown string
	if flag != ' ' && flag != 'a' {
		unknown = fmt.Sprintf("leader/09 %q is not a MARC 21 character coding scheme; ", flag)
	}
	if ascii && !hasESC {
		if unknown != "" {
			return encodingVerdict{kind: textUTF8, msg: unknown + "the record is plain ASCII"}
		}
		return encodingVerdict{kind: textUTF8}
	}
	valid := !ascii && utf8.Valid(rec)
	switch {
	case hasESC && (ascii || !valid || flag == ' '):
		// Escape sequences are MARC-8's; they are all ASCII, so a record can hold
		// them and still be valid UTF-8.
		if flag == 'a' {
			return encodingVerdict{kind: textMARC8, msg: "leader/09 says UTF-8 but the record holds MARC-8 escape sequences; read as MARC-8"}
		}
		return encodingVerdict{kind: textMARC8, msg: trimSemi(unknown)}
	case valid:
		switch flag {
		case 'a':
			return encodingVerdict{kind: textUTF8}
		case ' ':
			return encodingVerdict{kind: textUTF8, msg: "leader/09 says MARC-8 but the bytes are UTF-8; read as UTF-8"}
		}
		return encodingVerdict{kind: textUTF8, msg: unknown + "the bytes are UTF-8"}
	case flag == 'a':
		return encodingVerdict{kind: textBadUTF8}
	case flag == ' ':
		return encodingVerdict{kind: textMARC8}
	}
	return encodingVerdict{kind: textMARC8, msg: unknown + "the bytes are not UTF-8; read as MARC-8"}
}

func trimSemi(s string) string { return strings.TrimSuffix(s, "; ") }

// isASCII reports whether every byte of b is below 0x80, eight bytes at a time.
func isASCII(b []byte) bool {
	const hi = 0x8080808080808080
	for len(b) >= 32 {
		v := binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:]) |
			binary.LittleEndian.Uint64(b[16:]) | binary.LittleEndian.Uint64(b[24:])
		if v&hi != 0 {
			return false
		}
		b = b[32:]
	}
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&hi != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// appendValidUTF8 appends src to dst with every byte that is not part of a valid
// UTF-8 sequence replaced by U+FFFD, and reports whether it replaced any.
func appendValidUTF8(dst, src []byte) ([]byte, bool) {
	if utf8.Valid(src) {
		return append(dst, src...), false
	}
	for len(src) > 0 {
		c := src[0]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			src = src[1:]
			continue
		}
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst, true
}

// appendMARC8 appends the UTF-8 form of the MARC-8 bytes src. The result is valid
// UTF-8 whatever the decoder returns. It reports whether the output had to be
// repaired, and the decoder's complaint, if any.
func appendMARC8(dst, src []byte) ([]byte, bool, error) {
	n := len(dst)
	out, err := marc8.Decode(dst, src)
	if utf8.Valid(out[n:]) {
		return out, false, err
	}
	// Repair what the decoder left invalid, in a scratch copy.
	tmp := append([]byte(nil), out[n:]...)
	out, _ = appendValidUTF8(out[:n], tmp)
	return out, true, err
}
