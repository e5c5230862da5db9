// Command gen reads the Library of Congress MARC-8 code tables
// (codetables.xml) and writes the Go lookup tables used by package marc8.
//
//	go run ./internal/gen -xml codetables.xml -out tables.go
//
// The single-byte sets become a [set][94]uint32 array indexed by the 7-bit
// position 0x21-0x7E (a set designated as G1 is read with the high bit
// cleared). EACC, the only multibyte set, becomes two parallel strings: the
// sorted 3-byte codes and their UTF-8 encodings, three bytes each, searched
// by binary search after an index on the first byte. The output needs no
// initialisation at run time and compiles in a fraction of a second.
package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Flag bits of a single-byte table entry; the low 21 bits hold the rune.
// They must match the constants in package marc8 (charsets.go).
const (
	flagCombining = 1 << 31 // combining mark: MARC-8 puts it before its base
	flagCompose   = 1 << 30 // not NFC-inert: route through the normalizer
	flagSilent    = 1 << 29 // defined but produces no output (ligature and double tilde second halves)
)

// eaccWideMarker stands in the 3-byte EACC rune string for a rune whose
// UTF-8 form is not 3 bytes long; such runes are listed in eaccWide.
const eaccWideMarker = '\uFFFF'

// sets maps each ISO final byte in codetables.xml to the Go identifier of
// its set, in the order of the generated set constants. EACC must be last:
// every set before it is a single-byte set.
var sets = []struct {
	final byte
	ident string
}{
	{0x42, "setASCII"},
	{0x45, "setANSEL"},
	{0x67, "setGreekSymbols"},
	{0x62, "setSubscripts"},
	{0x70, "setSuperscripts"},
	{0x32, "setHebrew"},
	{0x4E, "setCyrillic"},
	{0x51, "setCyrillicExt"},
	{0x33, "setArabic"},
	{0x34, "setArabicExt"},
	{0x53, "setGreek"},
	{0x31, "setEACC"},
}

type xmlCode struct {
	Marc      string `xml:"marc"`
	UCS       string `xml:"ucs"`
	Combining string `xml:"isCombining"`
}

type xmlSet struct {
	Name   string    `xml:"name,attr"`
	ISO    string    `xml:"ISOcode,attr"`
	Codes  []xmlCode `xml:"code"`
	Groups []struct {
		Codes []xmlCode `xml:"code"`
	} `xml:"grouping"`
}

type xmlTables struct {
	Tables []struct {
		Sets []xmlSet `xml:"characterSet"`
	} `xml:"codeTable"`
}

type code struct {
	marc      uint32 // 1 or 3 bytes, as written in the <marc> column
	width     int    // bytes in marc
	r         rune   // -1 when <ucs> is empty
	combining bool
}

type charset struct {
	name  string
	codes []code
}

func main() {
	xmlPath := flag.String("xml", "", "path to codetables.xml (required)")
	out := flag.String("out", "tables.go", "output Go file")
	flag.Parse()
	if *xmlPath == "" {
		fmt.Fprintln(os.Stderr, "gen: -xml is required")
		os.Exit(2)
	}
	if err := run(*xmlPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(xmlPath, out string) error {
	f, err := os.Open(xmlPath)
	if err != nil {
		return err
	}
	defer f.Close()
	bySet, err := parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", xmlPath, err)
	}
	src, err := generate(bySet)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

func parse(r io.Reader) (map[byte]*charset, error) {
	var doc xmlTables
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, err
	}
	bySet := make(map[byte]*charset)
	for _, t := range doc.Tables {
		for _, s := range t.Sets {
			final, err := strconv.ParseUint(s.ISO, 16, 8)
			if err != nil {
				return nil, fmt.Errorf("set %q: bad ISOcode %q", s.Name, s.ISO)
			}
			if bySet[byte(final)] != nil {
				return nil, fmt.Errorf("set %q: ISOcode %s appears twice", s.Name, s.ISO)
			}
			cs := &charset{name: s.Name}
			all := s.Codes
			for _, g := range s.Groups {
				all = append(all, g.Codes...)
			}
			for _, c := range all {
				pc, err := parseCode(c)
				if err != nil {
					return nil, fmt.Errorf("set %q: %w", s.Name, err)
				}
				cs.codes = append(cs.codes, pc)
			}
			bySet[byte(final)] = cs
		}
	}
	if len(bySet) != len(sets) {
		return nil, fmt.Errorf("found %d character sets, want %d", len(bySet), len(sets))
	}
	for _, s := range sets {
		if bySet[s.final] == nil {
			return nil, fmt.Errorf("character set with ISOcode %02X missing", s.final)
		}
	}
	return bySet, nil
}

func parseCode(c xmlCode) (code, error) {
	m := strings.TrimSpace(c.Marc)
	v, err := strconv.ParseUint(m, 16, 32)
	if err != nil || (len(m) != 2 && len(m) != 6) {
		return code{}, fmt.Errorf("bad <marc> %q", c.Marc)
	}
	pc := code{marc: uint32(v), width: len(m) / 2, r: -1, combining: strings.TrimSpace(c.Combining) == "true"}
	if u := strings.TrimSpace(c.UCS); u != "" {
		r, err := strconv.ParseUint(u, 16, 32)
		if err != nil || !utf8.ValidRune(rune(r)) {
			return code{}, fmt.Errorf("marc %s: bad <ucs> %q", m, c.UCS)
		}
		pc.r = rune(r)
	}
	return pc, nil
}

// inert reports whether r can be appended to NFC text without normalizing:
// it is a starter that never combines with what precedes it and is its own
// NFC form.
func inert(r rune) bool {
	s := string(r)
	p := norm.NFC.PropertiesString(s)
	return p.CCC() == 0 && p.BoundaryBefore() && norm.NFC.IsNormalString(s)
}

func generate(bySet map[byte]*charset) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from codetables.xml; DO NOT EDIT.\n\n")
	b.WriteString("package marc8\n\n")
	fmt.Fprintf(&b, "// NFC properties (flagCompose) were computed with Unicode %s.\n\n", norm.Version)

	b.WriteString("// Character sets, in the order of codetables.xml.\nconst (\n")
	for i, s := range sets {
		if i == 0 {
			fmt.Fprintf(&b, "\t%s charset = iota // %s\n", s.ident, bySet[s.final].name)
		} else {
			fmt.Fprintf(&b, "\t%s // %s\n", s.ident, bySet[s.final].name)
		}
	}
	b.WriteString("\tnumSets\n)\n\n")

	b.WriteString("// setNames holds the set names used in codetables.xml.\nvar setNames = [numSets]string{\n")
	for _, s := range sets {
		fmt.Fprintf(&b, "\t%s: %q,\n", s.ident, bySet[s.final].name)
	}
	b.WriteString("}\n\n")

	b.WriteString("// setByFinal maps the final byte of a designating escape sequence to\n// its set plus one; zero means no such set.\nvar setByFinal = [128]charset{\n")
	for _, s := range sets {
		fmt.Fprintf(&b, "\t0x%02X: %s + 1,\n", s.final, s.ident)
	}
	b.WriteString("}\n\n")

	if err := genSingleByte(&b, bySet); err != nil {
		return nil, err
	}
	if err := genEACC(&b, bySet[0x31]); err != nil {
		return nil, err
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting output: %w", err)
	}
	return src, nil
}

func entry(c code) uint32 {
	if c.r < 0 {
		return flagSilent | flagCombining
	}
	e := uint32(c.r)
	if c.combining {
		e |= flagCombining
	}
	if !inert(c.r) {
		e |= flagCompose
	}
	return e
}

func genSingleByte(b *bytes.Buffer, bySet map[byte]*charset) error {
	var c1 [32]uint32
	b.WriteString("// sbcs holds the single-byte sets, indexed by the position of the byte\n" +
		"// with its high bit cleared, minus 0x21. An entry is a rune ORed with\n" +
		"// flag bits; zero means undefined.\n")
	fmt.Fprintf(b, "var sbcs = [%s][94]uint32{\n", sets[len(sets)-1].ident)
	for _, s := range sets[:len(sets)-1] {
		cs := bySet[s.final]
		var tab [94]uint32
		for _, c := range cs.codes {
			if c.width != 1 {
				return fmt.Errorf("set %q: multibyte code %X in a single-byte set", cs.name, c.marc)
			}
			m := byte(c.marc)
			switch {
			case m <= 0x20:
				// C0 controls and space are handled by the decoder itself;
				// check they map to themselves.
				if s.final != 0x42 || c.r != rune(m) {
					return fmt.Errorf("set %q: unexpected control code %02X -> %U", cs.name, m, c.r)
				}
				continue
			case m >= 0x80 && m <= 0x9F:
				if s.final != 0x45 || c.r < 0 || c.combining {
					return fmt.Errorf("set %q: unexpected C1 code %02X", cs.name, m)
				}
				c1[m-0x80] = entry(c)
				continue
			case m&0x7F < 0x21 || m&0x7F > 0x7E:
				return fmt.Errorf("set %q: code %02X outside 21-7E and A1-FE", cs.name, m)
			}
			pos := m&0x7F - 0x21
			if tab[pos] != 0 {
				return fmt.Errorf("set %q: code %02X defined twice", cs.name, m)
			}
			tab[pos] = entry(c)
		}
		fmt.Fprintf(b, "\t%s: {\n", s.ident)
		for row := 0; row < 94; row += 8 {
			b.WriteString("\t\t")
			for i := row; i < row+8 && i < 94; i++ {
				fmt.Fprintf(b, "0x%08X, ", tab[i])
			}
			fmt.Fprintf(b, "// %02X\n", row+0x21)
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n\n")

	b.WriteString("// c1 holds the C1 control characters MARC-8 defines (0x80-0x9F); zero\n// means undefined.\nvar c1 = [32]uint32{\n")
	for i, e := range c1 {
		if e != 0 {
			fmt.Fprintf(b, "\t0x%02X: 0x%08X,\n", i, e)
		}
	}
	b.WriteString("}\n\n")
	return nil
}

func genEACC(b *bytes.Buffer, cs *charset) error {
	codes := append([]code(nil), cs.codes...)
	sort.Slice(codes, func(i, j int) bool { return codes[i].marc < codes[j].marc })
	var keys, runes strings.Builder
	var first [95]int // first[b1-0x21] = index of the first code starting with b1
	type wide struct {
		marc uint32
		r    rune
	}
	var wides []wide
	for i, c := range codes {
		if c.width != 3 {
			return fmt.Errorf("EACC: code %X is not 3 bytes", c.marc)
		}
		if i > 0 && codes[i-1].marc == c.marc {
			return fmt.Errorf("EACC: code %06X defined twice", c.marc)
		}
		b1, b2, b3 := byte(c.marc>>16), byte(c.marc>>8), byte(c.marc)
		// 0x212320 (ideographic space) has a space as its third byte.
		if b1 < 0x21 || b1 > 0x7E || b2 < 0x20 || b2 > 0x7E || b3 < 0x20 || b3 > 0x7E {
			return fmt.Errorf("EACC: code %06X has a byte outside 20-7E, or a first byte of 20", c.marc)
		}
		if c.r < 0 || c.combining || !inert(c.r) {
			return fmt.Errorf("EACC: code %06X (%U) is empty, combining or not NFC-inert; the decoder does not support that", c.marc, c.r)
		}
		keys.Write([]byte{b1, b2, b3})
		if utf8.RuneLen(c.r) == 3 && c.r != eaccWideMarker {
			runes.WriteRune(c.r)
		} else {
			runes.WriteRune(eaccWideMarker)
			wides = append(wides, wide{c.marc, c.r})
		}
	}
	for i := range first {
		first[i] = len(codes)
	}
	for i := len(codes) - 1; i >= 0; i-- {
		first[byte(codes[i].marc>>16)-0x21] = i
	}
	for i := len(first) - 2; i >= 0; i-- { // empty groups start where the next one does
		if first[i] > first[i+1] {
			first[i] = first[i+1]
		}
	}
	if len(codes) > 0xFFFF {
		return errors.New("EACC: too many codes for uint16 indexes")
	}

	fmt.Fprintf(b, "// eaccCount is the number of EACC codes.\nconst eaccCount = %d\n\n", len(codes))
	b.WriteString("// eaccFirst[b-0x21] is the index of the first EACC code whose first\n// byte is b (or of the next code after it); eaccFirst[94] is eaccCount.\n")
	b.WriteString("var eaccFirst = [95]uint16{")
	for i, v := range first {
		if i%12 == 0 {
			b.WriteString("\n\t")
		}
		fmt.Fprintf(b, "%d, ", v)
	}
	b.WriteString("\n}\n\n")

	b.WriteString("// eaccKeys holds the sorted EACC codes, three bytes (G0 positions) each.\n// Only the first byte is always 0x21-0x7E: 0x212320 is the ideographic space.\nconst eaccKeys = \"\" +\n")
	writeChunks(b, keys.String(), 3*24)
	b.WriteString("// eaccRunes holds the UTF-8 form of each code in eaccKeys, three bytes\n" +
		"// each; U+FFFF marks a rune listed in eaccWide instead.\nconst eaccRunes = \"\" +\n")
	writeChunks(b, runes.String(), 3*24)
	b.WriteString("// eaccWide lists the EACC codes whose rune is not three bytes long in UTF-8.\nvar eaccWide = [...]struct {\n\tkey  uint32\n\tr rune\n}{\n")
	for _, w := range wides {
		fmt.Fprintf(b, "\t{0x%06X, 0x%X},\n", w.marc, w.r)
	}
	b.WriteString("}\n")
	return nil
}

// writeChunks writes s as concatenated string literals of n bytes each;
// n must keep UTF-8 sequences whole.
func writeChunks(b *bytes.Buffer, s string, n int) {
	for len(s) > 0 {
		k := min(n, len(s))
		fmt.Fprintf(b, "\t%s", strconv.Quote(s[:k]))
		s = s[k:]
		if len(s) > 0 {
			b.WriteString(" +\n")
		} else {
			b.WriteString("\n\n")
		}
	}
}
