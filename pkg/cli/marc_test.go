package cli

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/bindery/bindery/pkg/marc"
)

// runBindery runs the bindery command line in-process and returns its output and
// exit status.
func runBindery(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	env := &Env{Stdin: stdin, Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	code = Main(env, args)
	return out.String(), errOut.String(), code
}

// marcFile returns the path of a shared MARC test file (dir/name): the copy in
// pkg/marc/testdata, or the one in $BINDERY_MARC_TESTDATA or
// /work/shared/testdata/marc. It skips the test when there is none.
func marcFile(t *testing.T, name string) string {
	t.Helper()
	dirs := []string{"../marc/testdata", os.Getenv("BINDERY_MARC_TESTDATA"), "/work/shared/testdata/marc"}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("test file %s not found (set BINDERY_MARC_TESTDATA)", name)
	return ""
}

// marcManifestEntry is a line of pkg/marc/testdata/golden/MANIFEST.
type marcManifestEntry struct {
	file, format, encoding string
	holds                  int
	broken                 bool
}

func marcManifest(t *testing.T) []marcManifestEntry {
	t.Helper()
	data, err := os.ReadFile("../marc/testdata/golden/MANIFEST")
	require.NoError(t, err)
	var out []marcManifestEntry
	for line := range strings.SplitSeq(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		c := strings.Split(line, "\t")
		require.Len(t, c, 5)
		n, err := strconv.Atoi(c[3])
		require.NoError(t, err)
		out = append(out, marcManifestEntry{c[0], c[1], c[2], n, c[4] == "broken"})
	}
	return out
}

const cliRecordXML = `<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
<record>
  <leader>00000nam a2200000 a 4500</leader>
  <controlfield tag="001">ocm1</controlfield>
  <datafield tag="020" ind1=" " ind2=" "><subfield code="a">0679450041</subfield></datafield>
  <datafield tag="245" ind1="1" ind2="4">
    <subfield code="a">The amazing adventures of Kavalier &amp; Clay :</subfield>
    <subfield code="b"></subfield>
    <subfield code="c">Michael Chabon.</subfield>
  </datafield>
</record>
</collection>
`

func TestMarcDump(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBindery(t, strings.NewReader(cliRecordXML), "marc", "dump", "-")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Equal(t, `00000nam a2200000 a 4500
001 ocm1
020    $a 0679450041
245 14 $a The amazing adventures of Kavalier & Clay : $b  $c Michael Chabon.

`, out)

	// Warnings and unreadable records go to stderr.
	bad := strings.Replace(cliRecordXML, "<record>", "<record><datafield tag=\"911\"><subfield code=\"a\">x</subfield></datafield>", 1) +
		"<record><leader>00000nam a2200000 a 4500</leader><controlfield tag=\"001\">&bad;</controlfield></record>"
	out, errOut, code = runBindery(t, strings.NewReader(bad), "marc", "dump", "-")
	require.Equal(t, 0, code)
	require.Contains(t, out, "911    $a x\n")
	require.Contains(t, errOut, `warning: record 1 (offset 91, 001 "ocm1"), field 911: no ind1 attribute; set to blank`)
	require.Contains(t, errOut, "unreadable: record 2 (offset ")
}

// TestMarcDumpMatchesYaz compares "bindery marc dump" with yaz-marcdump's line
// format on every good shared file, line by line, text NFC-normalised.
func TestMarcDumpMatchesYaz(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("yaz-marcdump"); err != nil {
		t.Skip("yaz-marcdump not installed")
	}
	for _, e := range marcManifest(t) {
		if e.broken {
			continue
		}
		t.Run(e.file, func(t *testing.T) {
			t.Parallel()
			path := marcFile(t, e.file)
			out, errOut, code := runBindery(t, nil, "marc", "dump", path)
			require.Equal(t, 0, code, errOut)
			args := []string{"-i", "marc", "-f", e.encoding, "-t", "utf8", path}
			if e.format == "xml" {
				args = []string{"-i", "marcxml", path}
			}
			want, err := exec.Command("yaz-marcdump", args...).Output()
			require.NoError(t, err)
			got := strings.Split(norm.NFC.String(out), "\n")
			var exp []string
			for line := range strings.SplitSeq(norm.NFC.String(string(want)), "\n") {
				// yaz's complaints about the input, in parentheses.
				if !strings.HasPrefix(line, "(") {
					exp = append(exp, line)
				}
			}
			for i := 0; i < len(got) && i < len(exp); i++ {
				if isLeaderLine(exp[i]) && isLeaderLine(got[i]) {
					// Bindery's leader says what its records are: UTF-8 (09),
					// MARC 21's structure (10-11, 20-23); yaz's line format shows
					// the input's leader.
					g, x := []byte(got[i]), []byte(exp[i])
					for _, p := range []int{9, 10, 11, 20, 21, 22, 23} {
						g[p], x[p] = ' ', ' '
					}
					require.Equal(t, string(x), string(g), "line %d", i+1)
					continue
				}
				require.Equal(t, exp[i], got[i], "line %d", i+1)
			}
			require.Len(t, got, len(exp))
		})
	}
}

// isLeaderLine reports whether s looks like a leader: 24 bytes, digits first.
func isLeaderLine(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range []byte(s[:5]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func readRecords(t *testing.T, data []byte) []*marc.Record {
	t.Helper()
	var r interface {
		Read() (*marc.Record, error)
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("<")) {
		r = marc.NewXMLReader(bytes.NewReader(data), nil)
	} else {
		br, err := marc.NewBinaryReader(bytes.NewReader(data), nil)
		require.NoError(t, err)
		r = br
	}
	var out []*marc.Record
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, rec)
	}
}

func TestMarcConvert(t *testing.T) {
	t.Parallel()
	src := marcFile(t, "marc4j/chabon.mrc")
	orig, err := os.ReadFile(src)
	require.NoError(t, err)
	want := readRecords(t, orig)
	require.Len(t, want, 2)

	// Binary to MARCXML, into a file.
	dir := t.TempDir()
	xmlPath := filepath.Join(dir, "chabon.xml")
	out, errOut, code := runBindery(t, nil, "marc", "convert", "--to", "marcxml", src, xmlPath)
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	require.Empty(t, errOut)
	xmlData, err := os.ReadFile(xmlPath)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(xmlData, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<collection xmlns="http://www.loc.gov/MARC21/slim">`)))
	require.Equal(t, want, readRecords(t, xmlData))

	// MARCXML back to binary, stdin to stdout: the same records, and the same
	// bytes as the input (chabon.mrc is UTF-8 with correct lengths).
	out, errOut, code = runBindery(t, bytes.NewReader(xmlData), "marc", "convert", "--to", "marc21", "-")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, want, readRecords(t, []byte(out)))
	require.Equal(t, string(orig), out)

	// "-" as OUT is stdout; "xml" is an alias.
	out, _, code = runBindery(t, nil, "marc", "convert", "--to", "xml", src, "-")
	require.Equal(t, 0, code)
	require.Equal(t, string(xmlData), out)
}

func TestMarcConvertMARC8(t *testing.T) {
	t.Parallel()
	src := marcFile(t, "pymarc/marc8.dat")
	out, errOut, code := runBindery(t, nil, "marc", "convert", "--to", "marc21", src)
	require.Equal(t, 0, code, errOut)
	recs := readRecords(t, []byte(out))
	require.Len(t, recs, 1)
	require.Equal(t, byte('a'), recs[0].Leader[9])
	require.Empty(t, recs[0].Warnings, "the output is clean UTF-8")
	require.NotContains(t, out, "\x1b", "no MARC-8 escapes left")
}

func TestMarcConvertLosses(t *testing.T) {
	t.Parallel()
	// bad_tag.xml's tag "42" cannot be written as ISO 2709.
	out, errOut, code := runBindery(t, nil, "marc", "convert", "--to", "marc21", marcFile(t, "pymarc/bad_tag.xml"))
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Contains(t, errOut, `warning: record 1 (offset 22), field 42: tag "42" is not three letters or digits`)
	require.Contains(t, errOut, "not converted: record 1")
	require.Contains(t, errOut, "bindery: convert: 1 of 1 records left out (0 unreadable, 1 not convertible; see above)")

	// An unreadable record is left out; the others are converted.
	doc := cliRecordXML + "<record><controlfield tag=\"001\">&x;</controlfield></record>" + strings.TrimPrefix(cliRecordXML, `<?xml version="1.0" encoding="UTF-8"?>`)
	out, errOut, code = runBindery(t, strings.NewReader(doc), "marc", "convert", "--to", "marcxml", "-")
	require.Equal(t, 1, code)
	require.Len(t, readRecords(t, []byte(out)), 2)
	require.Contains(t, errOut, "unreadable: record 2 (offset ")
	require.Contains(t, errOut, "1 of 3 records left out (1 unreadable, 0 not convertible")
}

func TestMarcValidate(t *testing.T) {
	t.Parallel()
	out, errOut, code := runBindery(t, nil, "marc", "validate", marcFile(t, "marc4j/chabon.mrc"))
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasSuffix(out, "chabon.mrc (marc21): 2 records: 2 good, 0 recovered with 0 warnings, 0 unreadable\n"), out)

	// Recovered records: every warning with its position, exit status 0.
	path := marcFile(t, "pymarc/bad_records.mrc")
	out, _, code = runBindery(t, nil, "marc", "validate", path)
	require.Equal(t, 0, code)
	require.Contains(t, out, "warning: record 2 (offset 127): leader base address is 99937 but the directory ends at 37\n")
	require.Contains(t, out, "warning: record 7 (offset 764): record has no fields\n")
	require.True(t, strings.HasSuffix(out, "bad_records.mrc (marc21): 8 records: 2 good, 6 recovered with 8 warnings, 0 unreadable\n"), out)

	// An unreadable record: its position and reason, exit status 1.
	doc := cliRecordXML + "<record><leader>00000nam a2200000 a 4500</leader><controlfield tag=\"001\">x2</controlfield><datafield tag=\"245\" ind1=\"0\" ind2=\"0\"><subfield code=\"a\">caf&eacute;</subfield></datafield></record>"
	out, errOut, code = runBindery(t, strings.NewReader(doc), "marc", "validate", "-")
	require.Equal(t, 1, code)
	require.Empty(t, errOut)
	require.Contains(t, out, `bad: record 2 (offset 532, 001 "x2"), field 245: XML is not well-formed near byte`)
	require.Contains(t, out, "invalid character entity &eacute;")
	require.True(t, strings.HasSuffix(out, "- (marcxml): 2 records: 1 good, 0 recovered with 0 warnings, 1 unreadable\n"), out)

	// --strict makes an encoding problem an unreadable record.
	path = marcFile(t, "pymarc/utf8_without_leader_flag.dat")
	out, _, code = runBindery(t, nil, "marc", "validate", path)
	require.Equal(t, 0, code)
	require.Contains(t, out, "leader/09 says MARC-8 but the bytes are UTF-8")
	out, _, code = runBindery(t, nil, "marc", "validate", "--strict", path)
	require.Equal(t, 1, code)
	require.Contains(t, out, "bad: record 1")
	require.Contains(t, out, "1 unreadable")
	// ... unless --encoding says what the bytes are.
	_, _, code = runBindery(t, nil, "marc", "--strict", "--encoding", "utf8", "validate", path)
	require.Equal(t, 0, code)
}

// TestMarcCount counts every shared file: as many records as it really holds.
func TestMarcCount(t *testing.T) {
	t.Parallel()
	for _, e := range marcManifest(t) {
		t.Run(e.file, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := runBindery(t, nil, "marc", "count", marcFile(t, e.file))
			require.Equal(t, 0, code, errOut)
			require.Equal(t, strconv.Itoa(e.holds)+" records, 0 unreadable\n", out)
		})
	}
	out, _, code := runBindery(t, strings.NewReader(""), "marc", "count", "-")
	require.Equal(t, 0, code)
	require.Equal(t, "0 records, 0 unreadable\n", out)
	out, _, code = runBindery(t, strings.NewReader("\xef\xbb\xbf\n  "+cliRecordXML[strings.Index(cliRecordXML, "<collection"):]), "marc", "count", "-")
	require.Equal(t, 0, code)
	require.Equal(t, "1 records, 0 unreadable\n", out, "BOM and blanks before the XML")
}

func TestMarcUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"marc", "count", "--encoding", "latin1", "-"}, `--encoding: unknown encoding "latin1"`},
		{[]string{"marc", "convert", "--to", "json", "-"}, `--to: unknown format "json"`},
		{[]string{"marc", "convert", "-"}, `required flag(s) "to" not set`},
		{[]string{"marc", "dump"}, "accepts 1 arg(s), received 0"},
		{[]string{"marc", "count", "/nonexistent/file.mrc"}, "no such file or directory"},
	}
	for _, tt := range tests {
		_, errOut, code := runBindery(t, nil, tt.args...)
		require.Equal(t, 2, code, tt.args)
		require.Contains(t, errOut, tt.msg)
	}
}

func TestMarcHelp(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"dump", "convert", "validate", "count"} {
		out, _, code := runBindery(t, nil, "marc", sub, "--help")
		require.Equal(t, 0, code)
		require.Contains(t, out, "Examples:\n  bindery marc "+sub)
		require.Contains(t, out, "--encoding")
		require.Contains(t, out, "--strict")
	}
	out, _, _ := runBindery(t, nil, "marc", "--help")
	sc := bufio.NewScanner(strings.NewReader(out))
	var cmds []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && strings.HasPrefix(sc.Text(), "  ") && !strings.HasPrefix(f[0], "-") {
			cmds = append(cmds, f[0])
		}
	}
	require.Subset(t, cmds, []string{"convert", "count", "dump", "validate"})
}
