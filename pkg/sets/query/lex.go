package query

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a query that cannot be parsed: Pos is the 1-based position (in
// characters) of the problem in the query text.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("query: position %d: %s", e.Pos, e.Msg) }

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tSubfield
	tOp
	tLParen
	tRParen
)

type token struct {
	kind tokKind
	text string // the word, the string's value (unescaped), the subfield code, the operator
	pos  int    // 1-based character position of the token's start
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return fmt.Sprintf("the string %q", t.text)
	case tSubfield:
		return fmt.Sprintf("%q", "$"+t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// wordRune is what an unquoted word (a keyword, a tag, a date, a number)
// is made of.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-/:._+|", r)
}

// lex splits src into tokens, refusing what no token can start with.
func lex(src string) ([]token, error) {
	var out []token
	pos := 0 // characters read so far
	i := 0
	for i < len(src) {
		r, w := utf8.DecodeRuneInString(src[i:])
		start := pos + 1
		switch {
		case r == utf8.RuneError && w == 1:
			return nil, &Error{start, "the query is not valid UTF-8"}
		case unicode.IsSpace(r):
			i, pos = i+w, pos+1
		case r == '(':
			out = append(out, token{tLParen, "(", start})
			i, pos = i+w, pos+1
		case r == ')':
			out = append(out, token{tRParen, ")", start})
			i, pos = i+w, pos+1
		case r == '"':
			var b strings.Builder
			i, pos = i+w, pos+1
			closed := false
			for i < len(src) {
				c, cw := utf8.DecodeRuneInString(src[i:])
				if c == utf8.RuneError && cw == 1 {
					return nil, &Error{pos + 1, "the query is not valid UTF-8"}
				}
				i, pos = i+cw, pos+1
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' {
					if i >= len(src) {
						break
					}
					e, ew := utf8.DecodeRuneInString(src[i:])
					if e != '"' && e != '\\' {
						return nil, &Error{pos, `a backslash in a string escapes only " and \`}
					}
					i, pos = i+ew, pos+1
					c = e
				}
				b.WriteRune(c)
			}
			if !closed {
				return nil, &Error{start, "the string starting here is never closed (missing \")"}
			}
			out = append(out, token{tString, b.String(), start})
		case r == '$':
			i, pos = i+w, pos+1
			c, cw := utf8.DecodeRuneInString(src[i:])
			if i >= len(src) || c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c)) {
				return nil, &Error{start, "expected a subfield code (a letter or digit) after \"$\""}
			}
			i, pos = i+cw, pos+1
			out = append(out, token{tSubfield, string(c), start})
		case r == '=' || r == '<' || r == '>' || r == '!':
			op := string(r)
			i, pos = i+w, pos+1
			if i < len(src) && src[i] == '=' {
				op += "="
				i, pos = i+1, pos+1
			}
			if op == "!" {
				return nil, &Error{start, `"!" must be followed by "=" (or use NOT)`}
			}
			out = append(out, token{tOp, op, start})
		case wordRune(r):
			j, n := i, 0
			for j < len(src) {
				c, cw := utf8.DecodeRuneInString(src[j:])
				if !wordRune(c) {
					break
				}
				j, n = j+cw, n+1
			}
			out = append(out, token{tWord, src[i:j], start})
			i, pos = j, pos+n
		default:
			return nil, &Error{start, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	out = append(out, token{tEOF, "", pos + 1})
	return out, nil
}
