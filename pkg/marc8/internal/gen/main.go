// Command gen reads the Library of Congress MARC-8 code tables
// (codetables.xml) and writes the Go lookup tables used by package marc8.
//
//	go run ./internal/gen -xml codetables.xml -out tables.go
//
// The single-byte sets become a [set][94]uint32 array indexed by the 7-bit
// position 0x21-0x7E (a set designated as G1 is read with the high bit
// cleared). EACC, the only multibyte set, becomes two parallel strings: the
// sorted 3-byte codes and their UTF-8 encodings, three bytes each, with an
// index on the first two bytes; the third is found by binary search. The output needs no
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

// Layout of a single-byte table entry. It must match package marc8
// (charsets.go).
const (
	runeMask       = 1<<21 - 1 // bits 0-20: the rune
	cccShift       = 21        // bits 21-28: canonical combining class
	flagSilent     = 1 << 29   // defined but produces no output (ligature and double tilde second halves)
	flagNonStarter = 1 << 30   // a non-starter that follows its base, as in Unicode
	flagCombining  = 1 << 31   // combining mark: MARC-8 puts it before its base
	maxDecompMarks = 3         // marks in a base character's decomposition
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

// runes returns the runes of s.
func runes(s string) []rune { return []rune(s) }

func ccc(r rune) uint8 { return norm.NFC.PropertiesString(string(r)).CCC() }

// normalizer collects what the decoder needs to produce NFC without
// golang.org/x/text at run time: the canonical combining class of every
// non-starter it can emit, the decomposition of every base character that
// has one, and the canonical compositions those can take part in.
type normalizer struct {
	marks      map[rune]uint8 // non-starters the decoder can emit, with their class
	nonStarter map[rune]bool  // non-starters that are not MARC-8 combining marks
	bases      map[rune]bool  // characters that can carry marks
	decomps    map[rune][]rune
	pairs      map[[2]rune]rune
}

func newNormalizer() *normalizer {
	n := &normalizer{
		marks:      make(map[rune]uint8),
		nonStarter: make(map[rune]bool),
		bases:      map[rune]bool{' ': true, '\u00A0': true, '\uFFFD': true},
		decomps:    make(map[rune][]rune),
		pairs:      make(map[[2]rune]rune),
	}
	return n
}

// entry returns the table entry for c, registering its rune.
func (n *normalizer) entry(c code) (uint32, error) {
	if c.r < 0 {
		return flagSilent | flagCombining, nil
	}
	s := string(c.r)
	if c.combining {
		k := ccc(c.r)
		if k == 0 || norm.NFD.String(s) != s || !norm.NFC.IsNormalString(s) {
			return 0, fmt.Errorf("combining %U is a starter or not its own NFC and NFD", c.r)
		}
		n.marks[c.r] = k
		return uint32(c.r) | uint32(k)<<cccShift | flagCombining, nil
	}
	// A character whose NFC form is another single character (Greek ano
	// teleia, question mark, keraia) is stored in that form.
	rs := runes(norm.NFC.String(s))
	if len(rs) != 1 {
		return 0, fmt.Errorf("%U: NFC form %q is not one character", c.r, string(rs))
	}
	r := rs[0]
	p := norm.NFC.PropertiesString(string(r))
	if k := p.CCC(); k != 0 {
		n.marks[r] = k
		n.nonStarter[r] = true
		return uint32(r) | uint32(k)<<cccShift | flagNonStarter, nil
	}
	if !p.BoundaryBefore() {
		return 0, fmt.Errorf("%U combines with the character before it", r)
	}
	n.bases[r] = true
	return uint32(r), nil
}

// close computes decompositions and the composition pairs reachable from
// the bases and marks seen so far, and checks the assumptions of the
// decoder's composition (charsets.go compose).
func (n *normalizer) close() error {
	var starters []rune
	seen := make(map[rune]bool)
	addStarter := func(r rune) {
		if !seen[r] {
			seen[r] = true
			starters = append(starters, r)
		}
	}
	var opaque []rune
	for b := range n.bases {
		d := runes(norm.NFD.String(string(b)))
		if len(d) == 1 {
			addStarter(b)
			continue
		}
		simple := ccc(d[0]) == 0
		for _, m := range d[1:] {
			simple = simple && ccc(m) != 0
		}
		if !simple { // Hangul syllables: several starters
			opaque = append(opaque, b)
			continue
		}
		if len(d)-1 > maxDecompMarks {
			return fmt.Errorf("%U decomposes to %d marks, more than %d", b, len(d)-1, maxDecompMarks)
		}
		n.decomps[b] = d
		addStarter(d[0])
		for _, m := range d[1:] {
			n.marks[m] = ccc(m)
		}
	}
	var marks []rune
	for m := range n.marks {
		marks = append(marks, m)
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i] < marks[j] })
	for i := 0; i < len(starters); i++ { // starters grows with composites
		s := starters[i]
		ds := norm.NFD.String(string(s))
		for _, m := range marks {
			rs := runes(norm.NFC.String(string(s) + string(m)))
			if len(rs) != 1 || norm.NFD.String(string(rs[0])) != ds+string(m) {
				continue
			}
			if n.nonStarter[m] {
				return fmt.Errorf("non-starter %U composes with %U; the decoder does not support that", m, s)
			}
			n.pairs[[2]rune{s, m}] = rs[0]
			addStarter(rs[0])
		}
	}
	for _, b := range opaque {
		for _, m := range marks {
			if s := string(b) + string(m); norm.NFC.String(s) != s {
				return fmt.Errorf("%U with %U is not left alone by NFC; the decoder does not support that", b, m)
			}
		}
	}
	return nil
}

func (n *normalizer) write(b *bytes.Buffer) {
	var marks []rune
	for m := range n.marks {
		marks = append(marks, m)
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i] < marks[j] })
	b.WriteString("// markClasses lists every non-starter the decoder can emit as rune<<8 |\n" +
		"// canonical combining class, sorted.\nvar markClasses = [...]uint32{")
	for i, m := range marks {
		if i%6 == 0 {
			b.WriteString("\n\t")
		}
		fmt.Fprintf(b, "0x%04X<<8 | %d, ", m, n.marks[m])
	}
	b.WriteString("\n}\n\n")

	var bases []rune
	for r := range n.decomps {
		bases = append(bases, r)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	b.WriteString("// decompositions lists the base characters with a canonical\n" +
		"// decomposition: a starter and marks (rune | class<<cccShift), sorted.\nvar decompositions = [...]decomposition{\n")
	for _, r := range bases {
		d := n.decomps[r]
		fmt.Fprintf(b, "\t{0x%04X, 0x%04X, [maxDecompMarks]uint32{", r, d[0])
		for i, m := range d[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "0x%04X | %d<<cccShift", m, ccc(m))
		}
		fmt.Fprintf(b, "}}, // %c\n", r)
	}
	b.WriteString("}\n\n")

	keys := make([][2]rune, 0, len(n.pairs))
	for k := range n.pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	b.WriteString("// compositions maps a starter and a mark (starter<<21 | mark) to their\n" +
		"// canonical composite, sorted by key.\nvar compositions = [...]composition{\n")
	for _, k := range keys {
		fmt.Fprintf(b, "\t{0x%04X<<21 | 0x%04X, 0x%04X}, // %c\n", k[0], k[1], n.pairs[k], n.pairs[k])
	}
	b.WriteString("}\n\n")
}

func generate(bySet map[byte]*charset) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by internal/gen from codetables.xml; DO NOT EDIT.\n\n")
	b.WriteString("package marc8\n\n")
	fmt.Fprintf(&b, "// Normalization data was computed with Unicode %s.\n\n", norm.Version)

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

	n := newNormalizer()
	if err := genSingleByte(&b, bySet, n); err != nil {
		return nil, err
	}
	if err := genEACC(&b, bySet[0x31], n); err != nil {
		return nil, err
	}
	if err := n.close(); err != nil {
		return nil, err
	}
	n.write(&b)
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting output: %w", err)
	}
	return src, nil
}

func genSingleByte(b *bytes.Buffer, bySet map[byte]*charset, n *normalizer) error {
	var c1 [32]uint32
	b.WriteString("// sbcs holds the single-byte sets, indexed by the position of the byte\n" +
		"// with its high bit cleared, minus 0x21. An entry is a rune, its\n" +
		"// combining class (marks only) and flags; zero means undefined.\n")
	fmt.Fprintf(b, "var sbcs = [%s][94]uint32{\n", sets[len(sets)-1].ident)
	for _, s := range sets[:len(sets)-1] {
		cs := bySet[s.final]
		var tab [94]uint32
		for _, c := range cs.codes {
			if c.width != 1 {
				return fmt.Errorf("set %q: multibyte code %X in a single-byte set", cs.name, c.marc)
			}
			m := byte(c.marc)
			e, err := n.entry(c)
			if err != nil {
				return fmt.Errorf("set %q, code %02X: %w", cs.name, m, err)
			}
			switch {
			case m <= 0x20:
				// C0 controls and space are handled by the decoder itself;
				// check they map to themselves.
				if s.final != 0x42 || c.r != rune(m) {
					return fmt.Errorf("set %q: unexpected control code %02X -> %U", cs.name, m, c.r)
				}
				continue
			case m >= 0x80 && m <= 0x9F:
				if s.final != 0x45 || e&^runeMask != 0 {
					return fmt.Errorf("set %q: unexpected C1 code %02X", cs.name, m)
				}
				c1[m-0x80] = e
				continue
			case m&0x7F < 0x21 || m&0x7F > 0x7E:
				return fmt.Errorf("set %q: code %02X outside 21-7E and A1-FE", cs.name, m)
			}
			pos := m&0x7F - 0x21
			if tab[pos] != 0 {
				return fmt.Errorf("set %q: code %02X defined twice", cs.name, m)
			}
			tab[pos] = e
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

func genEACC(b *bytes.Buffer, cs *charset, n *normalizer) error {
	codes := append([]code(nil), cs.codes...)
	sort.Slice(codes, func(i, j int) bool { return codes[i].marc < codes[j].marc })
	var keys, runes strings.Builder
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
		if b1 < 0x21 || b1 > 0x7E || b2 < 0x21 || b2 > 0x7E || b3 < 0x20 || b3 > 0x7E {
			return fmt.Errorf("EACC: code %06X has a byte outside 21-7E (20-7E for the third)", c.marc)
		}
		if e, err := n.entry(c); err != nil || e&^runeMask != 0 || rune(e) != c.r {
			return fmt.Errorf("EACC: code %06X (%U) is empty, combining or not its own NFC; the decoder does not support that (%v)", c.marc, c.r, err)
		}
		keys.Write([]byte{b1, b2, b3})
		if utf8.RuneLen(c.r) == 3 && c.r != eaccWideMarker {
			runes.WriteRune(c.r)
		} else {
			runes.WriteRune(eaccWideMarker)
			wides = append(wides, wide{c.marc, c.r})
		}
	}
	if len(codes) > 0xFFFF {
		return errors.New("EACC: too many codes for uint16 indexes")
	}
	// Two-level index: the first byte selects a plane, the second a row of
	// codes sharing both bytes, searched on the third.
	lowerBound := func(key uint32) int {
		return sort.Search(len(codes), func(i int) bool { return codes[i].marc >= key })
	}
	var plane [94]int
	var rows []int
	for b1 := uint32(0x21); b1 <= 0x7E; b1++ {
		if lowerBound(b1<<16) == lowerBound((b1+1)<<16) {
			continue
		}
		plane[b1-0x21] = len(rows)/95 + 1
		for b2 := uint32(0x21); b2 <= 0x7F; b2++ { // 0x7F: the end of the plane
			rows = append(rows, lowerBound(b1<<16|b2<<8))
		}
	}

	fmt.Fprintf(b, "// eaccCount is the number of EACC codes.\nconst eaccCount = %d\n\n", len(codes))
	b.WriteString("// eaccPlane[b1-0x21] is one more than the plane of EACC codes whose first\n// byte is b1, or zero when there is none.\n")
	b.WriteString("var eaccPlane = [94]uint8{")
	for i, v := range plane {
		if i%16 == 0 {
			b.WriteString("\n\t")
		}
		fmt.Fprintf(b, "%d, ", v)
	}
	b.WriteString("\n}\n\n")
	b.WriteString("// eaccRows[95*plane + b2-0x21] is the index in eaccKeys of the first code\n" +
		"// of the plane whose second byte is b2 or more; eaccRows[95*plane+94] is\n// the end of the plane.\n")
	fmt.Fprintf(b, "var eaccRows = [%d]uint16{", len(rows))
	for i, v := range rows {
		if k := i % 95; k == 0 {
			fmt.Fprintf(b, "\n\t// plane %d\n\t", i/95)
		} else if k%16 == 0 {
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
