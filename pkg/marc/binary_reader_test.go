package marc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/bindery/bindery/pkg/marc8"
)

// sharedTestdata holds the real test files (see its README.md); the few the tests
// must always have are copied into testdata/.
const sharedTestdata = "../../../shared/testdata/marc"

// testFile returns the contents of a test file, from testdata/ or the shared
// directory, skipping the test when neither has it.
func testFile(t testing.TB, name string) []byte {
	t.Helper()
	for _, dir := range []string{"testdata", sharedTestdata} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			return data
		}
		require.ErrorIs(t, err, os.ErrNotExist)
	}
	t.Skipf("test file %s not found", name)
	return nil
}

// marc8Ready reports whether pkg/marc8 decodes (it starts as a placeholder that
// copies its input). MARC-8 text checks skip until it does.
func marc8Ready() bool {
	out, _ := marc8.Decode(nil, []byte{0xE2, 'e'}) // ANSEL acute + e
	return !bytes.Equal(out, []byte{0xE2, 'e'})
}

// isDecoderWarning reports whether w is about MARC-8 text the placeholder decoder
// could not convert.
func isDecoderWarning(w error) bool {
	var e *Error
	return errors.As(w, &e) && errors.Is(e, ErrEncoding) && strings.HasPrefix(e.Msg, "MARC-8")
}

// relevant drops MARC-8 decoding warnings while pkg/marc8 is a placeholder.
func relevant(ws []error) []error {
	if marc8Ready() {
		return ws
	}
	var out []error
	for _, w := range ws {
		if !isDecoderWarning(w) && !strings.Contains(w.Error(), "more problems not reported") {
			out = append(out, w)
		}
	}
	return out
}

// readAll reads every record of data; errs are the unrecoverable records.
func readAll(t testing.TB, data []byte, opts *BinaryReaderOptions) (recs []*Record, errs []*Error) {
	t.Helper()
	return readAllFrom(t, bytes.NewReader(data), opts)
}

func readAllFrom(t testing.TB, in io.Reader, opts *BinaryReaderOptions) (recs []*Record, errs []*Error) {
	t.Helper()
	r, err := NewBinaryReader(in, opts)
	require.NoError(t, err)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return recs, errs
		}
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Nil(t, rec)
			errs = append(errs, e)
			continue
		}
		require.NotNil(t, rec)
		recs = append(recs, rec)
	}
}

// recordOffsets returns where each 0x1D-terminated record of data starts.
func recordOffsets(data []byte) []int64 {
	offs := []int64{0}
	for i, c := range data {
		if c == recordTerminator && i+1 < len(data) {
			offs = append(offs, int64(i+1))
		}
	}
	return offs
}

type wantWarning struct {
	ordinal  int
	tag      string
	contains string
}

var binaryFiles = []struct {
	name  string
	holds int
	// broken files must warn; want lists warnings that must be among them.
	broken bool
	want   []wantWarning
}{
	{name: "evergreen/auth-1066.mrc", holds: 1066},
	{name: "evergreen/jazz_1k.mrc", holds: 1000},
	{name: "evergreen/lul_fre_100.mrc", holds: 100},
	{name: "evergreen/map_data.mrc", holds: 3, broken: true, want: []wantWarning{
		{1, "", "leader/09 says MARC-8 but the bytes are UTF-8"},
		{2, "", "leader/09 says MARC-8 but the bytes are UTF-8"},
		{3, "", "leader/09 says MARC-8 but the bytes are UTF-8"},
	}},
	{name: "evergreen/sample_acq_order.mrc", holds: 10, broken: true, want: []wantWarning{
		{2, "970", `dropped 1 bytes "\\" between the indicators and the first subfield`},
		{10, "970", `dropped 1 bytes "\\" between the indicators and the first subfield`},
	}},
	{name: "marc4j/bad_leaders_10_11.mrc", holds: 1, broken: true, want: []wantWarning{
		{1, "", `leader/10-11 (indicator count, subfield code length) is "  "`},
		{1, "", `leader/20-21 (length of field length, of start position) is "  "`},
	}},
	{name: "marc4j/bad_oversize_field_bad_directory.mrc", holds: 5, broken: true, want: []wantWarning{
		{2, "", "directory is 217 bytes, not a multiple of 12"},
		{2, "", "fields recovered from their terminators: 18 fields for 18 directory entries"},
	}},
	{name: "marc4j/bad_too_long_plus_2.mrc", holds: 3, broken: true, want: []wantWarning{
		{1, "", "leader record length is 23375 but the record is 123375 bytes"},
		{1, "991", "directory entry 1439 says the field starts at 11"},
		{1, "", "fields recovered from their terminators: 1517 fields for 1517 directory entries"},
	}},
	{name: "marc4j/brkrtest.mrc", holds: 8},
	{name: "marc4j/chabon.mrc", holds: 2},
	{name: "marc4j/selectedRecs.mrc", holds: 11},
	{name: "marc4j/summerland.mrc", holds: 1},
	{name: "marc4j/unordered-directory-entries.mrc", holds: 1},
	{name: "pymarc/bad_records.mrc", holds: 8, broken: true, want: []wantWarning{
		{2, "", "leader base address is 99937 but the directory ends at 37"},
		{3, "", "leader base address is 0 but the directory ends at 37"},
		{4, "", "directory is 13 bytes, not a multiple of 12"},
		{5, "", "directory is 13 bytes, not a multiple of 12"},
		{5, "", "1 tags taken by position in the directory"},
		{6, "", `leader base address "f0037" is not a number`},
		{7, "", "record has no fields"},
	}},
	{name: "pymarc/utf8_invalid.mrc", holds: 1, broken: true, want: []wantWarning{
		{1, "260", "subfield code '\uFFFD' (U+FFFD) is not ASCII"},
	}},
	{name: "pymarc/bad_indicator.dat", holds: 1, broken: true, want: []wantWarning{
		{1, "0 2", `tag "0 2" is not three letters or digits`},
		{1, "0 2", "no indicators before the first subfield (byte 325)"},
	}},
	{name: "pymarc/bad_subfield_code.dat", holds: 1, broken: true, want: []wantWarning{
		{1, "", "leader record length is 755 but the record is 756 bytes"},
		{1, "245", "directory entry 12 says the field ends at 291, but no field terminator is there"},
		{1, "245", "subfield code 'á' (U+00E1) is not ASCII (byte 481)"},
		{1, "", "leader/09 says MARC-8 but the bytes are UTF-8"},
	}},
	{name: "pymarc/diacritic.dat", holds: 1},
	{name: "pymarc/marc.dat", holds: 20},
	{name: "pymarc/marc8.dat", holds: 1},
	{name: "pymarc/multi_isbn.dat", holds: 1},
	{name: "pymarc/test.dat", holds: 10},
	{name: "pymarc/utf8_with_leader_flag.dat", holds: 1},
	{name: "pymarc/utf8_without_leader_flag.dat", holds: 1, broken: true, want: []wantWarning{
		{1, "", "leader/09 says MARC-8 but the bytes are UTF-8"},
	}},
}

// The reader recovers every record each file holds; good files read without a
// warning; broken ones say what is wrong and where.
func TestBinaryReaderFiles(t *testing.T) {
	t.Parallel()
	for _, tt := range binaryFiles {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := testFile(t, tt.name)
			require.Equal(t, tt.holds, bytes.Count(data, []byte{recordTerminator}), "the table's count")

			recs, errs := readAll(t, data, nil)
			require.Empty(t, errs)
			require.Len(t, recs, tt.holds)

			offs := recordOffsets(data)
			var warns []*Error
			for i, rec := range recs {
				require.Equal(t, byte('a'), rec.Leader[9])
				requireUTF8(t, rec)
				for _, w := range relevant(rec.Warnings) {
					var e *Error
					require.ErrorAs(t, w, &e)
					require.Equal(t, i+1, e.Ordinal, "%v", e)
					require.Equal(t, offs[i], e.Offset, "%v", e)
					require.Equal(t, rec.ControlNumber(), e.ID, "%v", e)
					require.NotEmpty(t, e.Msg)
					warns = append(warns, e)
				}
			}
			if !tt.broken {
				require.Empty(t, warns)
				return
			}
			require.NotEmpty(t, warns)
			for _, w := range tt.want {
				require.True(t, hasWarning(warns, w), "want warning %+v among\n%s", w, joinErrors(warns))
			}
		})
	}
}

func hasWarning(ws []*Error, w wantWarning) bool {
	for _, e := range ws {
		if e.Ordinal == w.ordinal && e.Tag == w.tag && strings.Contains(e.Msg, w.contains) {
			return true
		}
	}
	return false
}

func joinErrors(ws []*Error) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

func requireUTF8(t testing.TB, rec *Record) {
	t.Helper()
	for _, f := range rec.Fields {
		require.True(t, utf8.ValidString(f.Tag), "tag %q", f.Tag)
		require.True(t, utf8.ValidString(f.Value), "field %s", f.Tag)
		for _, s := range f.Subfields {
			require.True(t, utf8.ValidString(s.Value), "field %s $%c", f.Tag, s.Code)
		}
	}
}

// subfield returns the first value of code in the first field with tag.
func subfield(t testing.TB, rec *Record, tag string, code byte) string {
	t.Helper()
	f := rec.FirstField(tag)
	require.NotNil(t, f, "no field %s", tag)
	v, ok := f.FirstSubfield(code)
	require.True(t, ok, "no $%c in %s", code, tag)
	return v
}

// What the reader recovers from the broken files, checked against what the files
// hold (which yaz-marcdump partly loses: see the comments).
func TestBinaryReaderRecovers(t *testing.T) {
	t.Parallel()

	t.Run("bad_records: every record, its one field", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/bad_records.mrc"), nil)
		require.Len(t, recs, 8)
		for i, rec := range recs {
			if i == 6 { // leader, empty directory, no field
				require.Empty(t, rec.Fields)
				continue
			}
			require.Len(t, rec.Fields, 1, "record %d", i+1)
			f := rec.Fields[0]
			require.Equal(t, "245", f.Tag)
			require.Equal(t, byte('0'), f.Ind1)
			require.Equal(t, byte('1'), f.Ind2)
			require.Equal(t, []string{"The pragmatic programmer : ", "from journeyman to master /", "Andrew Hunt, David Thomas."}, f.SubfieldValues())
		}
	})

	t.Run("bad_subfield_code: fields after the shifted offsets", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/bad_subfield_code.dat"), nil)
		rec := recs[0]
		require.Len(t, rec.Fields, 18)
		f := rec.FirstField("245")
		require.Equal(t, []Subfield{{'?', "ActivePerl with ASP and ADO /"}, {'c', "Tobias Martinsson."}}, f.Subfields)
		// yaz, following the directory, loses the last byte of every later field.
		require.Equal(t, "Perl (Computer program language)", subfield(t, rec, "650", 'a'))
		last := rec.Fields[17]
		require.Equal(t, "630", last.Tag)
		require.Equal(t, []Subfield{{'a', "ActiveX."}}, last.Subfields)
	})

	t.Run("bad_oversize_field_bad_directory: the 520 and the 935 after it", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "marc4j/bad_oversize_field_bad_directory.mrc"), nil)
		rec := recs[1]
		require.Equal(t, "drd-34891908", rec.ControlNumber())
		require.Len(t, rec.Fields, 18)
		f520 := rec.FirstField("520")
		require.NotNil(t, f520) // yaz drops it, and the 935
		require.Greater(t, len(f520.Subfields[0].Value), maxFieldLen)
		require.True(t, strings.HasPrefix(f520.Subfields[0].Value, "Kollektive Identität entsteht"))
		require.Equal(t, "druck", subfield(t, rec, "935", 'b'))
		require.Equal(t, "935", rec.Fields[17].Tag)
		for _, other := range []int{0, 2, 3, 4} {
			require.Len(t, relevant(recs[other].Warnings), 0, "record %d", other+1)
		}
	})

	t.Run("bad_too_long_plus_2: all three records", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "marc4j/bad_too_long_plus_2.mrc"), nil)
		require.Len(t, recs, 3) // yaz reads none
		require.Len(t, recs[0].Fields, 1517)
		require.Equal(t, "360944", recs[0].ControlNumber())
		require.Equal(t, "360945", recs[1].ControlNumber())
		require.Equal(t, "360946", recs[2].ControlNumber())
		// Every tag was found in the directory: none by mere position.
		for _, w := range recs[0].Warnings {
			require.NotContains(t, w.Error(), "by position")
		}
		require.Equal(t, "991", recs[0].Fields[1516].Tag)
	})

	t.Run("bad_indicator: data field without indicators", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/bad_indicator.dat"), nil)
		require.Len(t, recs, 1)
		f := recs[0].Fields[0]
		require.Equal(t, Field{Tag: "0 2", Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{'a', "9780253325525 (alk. paper)"}}}, f)
		require.Len(t, recs[0].Fields, 25)
	})

	t.Run("sample_acq_order: byte after the indicators dropped", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "evergreen/sample_acq_order.mrc"), nil)
		n := 0
		for _, rec := range recs {
			for _, f := range rec.FieldsByTag("970") {
				require.Equal(t, byte(' '), f.Ind1)
				require.Equal(t, byte(' '), f.Ind2)
				require.NotEqual(t, byte('\\'), f.Subfields[0].Code)
				n++
			}
		}
		require.Positive(t, n)
	})

	t.Run("utf8_invalid: U+FFFD subfield code", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/utf8_invalid.mrc"), nil)
		f := recs[0].FirstField("260")
		require.Equal(t, []Subfield{{'a', "[Washington, D.C.:"}, {'?', "bAssociation of Teacher Educators]"}, {'c', "1994."}}, f.Subfields)
	})

	t.Run("unordered directory: fields in directory order, no warning", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "marc4j/unordered-directory-entries.mrc"), nil)
		require.Empty(t, recs[0].Warnings)
		require.Equal(t, "001", recs[0].Fields[0].Tag)
		require.Len(t, recs[0].Fields, 33)
	})

	t.Run("bad_leaders_10_11: structure positions normalised", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "marc4j/bad_leaders_10_11.mrc"), nil)
		require.Equal(t, "01794    a2200445   4500", string(recs[0].Leader[:]))
		require.Len(t, recs[0].Fields, 35)
	})
}

func TestBinaryReaderEncoding(t *testing.T) {
	t.Parallel()

	t.Run("UTF-8 flagged MARC-8 is read as UTF-8", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "evergreen/map_data.mrc"), nil)
		require.Equal(t, "(W 126⁰--W 124⁰/N 42⁰--N 40⁰).", subfield(t, recs[0], "255", 'c'))

		with, _ := readAll(t, testFile(t, "pymarc/utf8_with_leader_flag.dat"), nil)
		without, _ := readAll(t, testFile(t, "pymarc/utf8_without_leader_flag.dat"), nil)
		require.Equal(t, with[0].Fields, without[0].Fields)
		require.Equal(t, with[0].Leader, without[0].Leader)
	})

	t.Run("strict rejects a record whose flag lies, and goes on", func(t *testing.T) {
		t.Parallel()
		recs, errs := readAll(t, testFile(t, "evergreen/map_data.mrc"), &BinaryReaderOptions{Strict: true})
		require.Empty(t, recs)
		require.Len(t, errs, 3)
		for i, e := range errs {
			require.ErrorIs(t, e, ErrEncoding)
			require.Equal(t, i+1, e.Ordinal)
			require.NotEmpty(t, e.ID)
		}
	})

	t.Run("MARC-8 is decoded", func(t *testing.T) {
		t.Parallel()
		if !marc8Ready() {
			t.Skip("pkg/marc8 is still a placeholder")
		}
		recs, _ := readAll(t, testFile(t, "pymarc/marc8.dat"), nil)
		require.Empty(t, recs[0].Warnings)
		require.Equal(t, "De la solitude à la communauté.", norm.NFC.String(subfield(t, recs[0], "240", 'a')))

		recs, _ = readAll(t, testFile(t, "evergreen/lul_fre_100.mrc"), nil)
		require.Equal(t, "poésies canadiennes /", norm.NFC.String(subfield(t, recs[1], "245", 'b')))
	})

	t.Run("forced UTF-8 on MARC-8 repairs with U+FFFD", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/marc8.dat"), &BinaryReaderOptions{Encoding: EncodingUTF8})
		requireUTF8(t, recs[0])
		require.Contains(t, subfield(t, recs[0], "240", 'a'), "\uFFFD")
		var tags []string
		for _, w := range recs[0].Warnings {
			var e *Error
			require.ErrorAs(t, w, &e)
			require.ErrorIs(t, e, ErrEncoding)
			require.Contains(t, e.Msg, "invalid UTF-8 replaced with U+FFFD")
			tags = append(tags, e.Tag)
		}
		require.Equal(t, []string{"240", "500", "730"}, tags)

		_, errs := readAll(t, testFile(t, "pymarc/marc8.dat"), &BinaryReaderOptions{Encoding: EncodingUTF8, Strict: true})
		require.Len(t, errs, 1)
		require.Equal(t, "240", errs[0].Tag)
	})

	t.Run("forced MARC-8 on UTF-8 still gives UTF-8", func(t *testing.T) {
		t.Parallel()
		recs, _ := readAll(t, testFile(t, "pymarc/utf8_with_leader_flag.dat"), &BinaryReaderOptions{Encoding: EncodingMARC8})
		require.Len(t, recs, 1)
		requireUTF8(t, recs[0])
	})

	tests := []struct {
		name    string
		flag    byte
		value   string
		opts    BinaryReaderOptions
		want    string // the 245 $a read, when not ""
		warning string // a warning on field "" or 245, or "" for none
	}{
		{name: "ASCII flagged MARC-8", flag: ' ', value: "plain", want: "plain"},
		{name: "ASCII flagged UTF-8", flag: 'a', value: "plain", want: "plain"},
		{name: "UTF-8 flagged UTF-8", flag: 'a', value: "café", want: "café"},
		{name: "invalid UTF-8 flagged UTF-8", flag: 'a', value: "caf\xE9!", want: "caf\uFFFD!", warning: "invalid UTF-8 replaced with U+FFFD"},
		{name: "escape sequences flagged UTF-8", flag: 'a', value: "\x1b(2abc\x1b(B", warning: "leader/09 says UTF-8 but the record holds MARC-8 escape sequences"},
		{name: "unknown flag, UTF-8", flag: 'z', value: "café", want: "café", warning: `leader/09 'z' is not a MARC 21 character coding scheme; the bytes are UTF-8`},
		{name: "unknown flag, ASCII", flag: 'z', value: "plain", want: "plain", warning: `leader/09 'z' is not a MARC 21 character coding scheme; the record is plain ASCII`},
		{name: "unknown flag, not UTF-8", flag: 'z', value: "caf\xE2e", warning: "the bytes are not UTF-8; read as MARC-8"},
		{name: "forced UTF-8 with escape", flag: ' ', value: "a\x1bb", opts: BinaryReaderOptions{Encoding: EncodingUTF8}, want: "a\x1bb"},
		{name: "forced MARC-8, ASCII", flag: 'a', value: "plain", opts: BinaryReaderOptions{Encoding: EncodingMARC8}, want: "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := rawRecord(tt.flag, "001", "id1", "245", "10\x1fa"+tt.value)
			recs, errs := readAll(t, data, &tt.opts)
			require.Empty(t, errs)
			require.Len(t, recs, 1)
			rec := recs[0]
			requireUTF8(t, rec)
			require.Equal(t, byte('a'), rec.Leader[9])
			if tt.want != "" {
				require.Equal(t, tt.want, subfield(t, rec, "245", 'a'))
			}
			ws := relevant(rec.Warnings)
			if tt.warning == "" {
				require.Empty(t, ws)
				return
			}
			require.Len(t, ws, 1, "%v", ws)
			require.Contains(t, ws[0].Error(), tt.warning)
			require.ErrorIs(t, ws[0], ErrEncoding)
			require.Contains(t, ws[0].Error(), `001 "id1"`)

			strict := tt.opts
			strict.Strict = true
			_, errs = readAll(t, data, &strict)
			require.Len(t, errs, 1)
			require.ErrorIs(t, errs[0], ErrEncoding)
		})
	}
}

// rawRecord builds a well-formed ISO 2709 record from tag, content pairs (content
// without the field terminator), independently of the writer.
func rawRecord(flag byte, tagContent ...string) []byte {
	var dir, data bytes.Buffer
	for i := 0; i < len(tagContent); i += 2 {
		content := tagContent[i+1] + "\x1e"
		dir.WriteString(tagContent[i])
		dir.WriteString(pad(len(content), 4))
		dir.WriteString(pad(data.Len(), 5))
		data.WriteString(content)
	}
	dir.WriteByte(fieldTerminator)
	base := leaderLen + dir.Len()
	total := base + data.Len() + 1
	leader := pad(total, 5) + "nam " + string(flag) + "22" + pad(base, 5) + " a 4500"
	return []byte(leader + dir.String() + data.String() + "\x1d")
}

func pad(n, width int) string {
	s := strings.Repeat("0", width) + itoa(n)
	return s[len(s)-width:]
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

func TestBinaryReaderStream(t *testing.T) {
	t.Parallel()
	rec1 := rawRecord('a', "001", "one", "245", "10\x1faFirst")
	rec2 := rawRecord('a', "001", "two", "245", "10\x1faSecond")
	rec3 := rawRecord('a', "001", "three", "245", "10\x1faThird")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	type want struct {
		ids     []string // 001 of the records read, "!" for an unrecoverable one
		offsets []int64  // of each record or error
		warning string   // a warning somewhere, or "" for none
		errKind error    // the kind of the unrecoverable records
	}
	tests := []struct {
		name string
		in   []byte
		opts BinaryReaderOptions
		want want
	}{
		{name: "empty", in: nil, want: want{}},
		{name: "only white space", in: []byte("\n\r\n  \x00\x1a"), want: want{}},
		{name: "clean", in: cat(rec1, rec2, rec3), want: want{ids: []string{"one", "two", "three"},
			offsets: []int64{0, int64(len(rec1)), int64(len(rec1) + len(rec2))}}},
		{name: "newlines between records", in: cat(rec1, []byte("\r\n"), rec2, []byte("\n"), rec3, []byte("\n")),
			want: want{ids: []string{"one", "two", "three"}, offsets: []int64{0, int64(len(rec1)) + 2, int64(len(rec1)+len(rec2)) + 3}}},
		{name: "NULs and a doubled terminator", in: cat([]byte("\x00\x00"), rec1, []byte("\x1d\x00"), rec2),
			want: want{ids: []string{"one", "two"}, offsets: []int64{2, int64(len(rec1)) + 4}}},
		{name: "junk before a leader", in: cat(rec1, []byte("junk!"), rec2),
			want: want{ids: []string{"one", "two"}, offsets: []int64{0, int64(len(rec1)) + 5}, warning: "skipped 5 bytes of junk before the leader"}},
		{name: "last record unterminated", in: cat(rec1, rec2[:len(rec2)-1]),
			want: want{ids: []string{"one", "two"}, offsets: []int64{0, int64(len(rec1))}, warning: "input ends before the record terminator"}},
		{name: "records run together", in: cat(rec1[:len(rec1)-1], rec2, rec3),
			want: want{ids: []string{"one", "two", "three"}, offsets: []int64{0, int64(len(rec1)) - 1, int64(len(rec1)+len(rec2)) - 1},
				warning: "record terminator missing: another record starts at byte"}},
		{name: "too short between good ones", in: cat(rec1, []byte("0002\x1d"), rec2),
			want: want{ids: []string{"one", "!", "two"}, offsets: []int64{0, int64(len(rec1)), int64(len(rec1)) + 5}, errKind: ErrMalformed}},
		{name: "no directory terminator", in: cat(rec1, []byte("00030nam a2200025 a 4500abcd\x1d"), rec2),
			want: want{ids: []string{"one", "!", "two"}, offsets: []int64{0, int64(len(rec1)), int64(len(rec1)) + 29}, errKind: ErrMalformed}},
		{name: "over the length limit", in: cat(rec1, bytes.Repeat([]byte("x"), 200), rec2, rec3), opts: BinaryReaderOptions{MaxRecordLength: 150},
			want: want{ids: []string{"one", "!", "three"}, offsets: []int64{0, int64(len(rec1)), int64(len(rec1) + 200 + len(rec2))}, errKind: ErrRecordTooLong}},
		{name: "over the length limit across buffer refills", in: cat(rec1, bytes.Repeat([]byte("x"), 3*readBufferSize), rec2, rec3), opts: BinaryReaderOptions{MaxRecordLength: readBufferSize + 10},
			want: want{ids: []string{"one", "!", "three"}, offsets: []int64{0, int64(len(rec1)), int64(len(rec1) + 3*readBufferSize + len(rec2))}, errKind: ErrRecordTooLong}},
		{name: "long record across buffer refills", in: cat(rec1, rawRecord('a', "001", "long", "500", "  \x1fa"+strings.Repeat("y", 9000), "500", "  \x1fa"+strings.Repeat("z", 9000), "500", "  \x1fa"+strings.Repeat("y", 9000), "500", "  \x1fa"+strings.Repeat("z", 9000), "500", "  \x1fa"+strings.Repeat("y", 9000), "500", "  \x1fa"+strings.Repeat("z", 9000), "500", "  \x1fa"+strings.Repeat("z", 9000), "500", "  \x1fa"+strings.Repeat("z", 9000)), rec2),
			want: want{ids: []string{"one", "long", "two"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, src := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", bytes.NewReader(tt.in)},
				{"one byte at a time", iotest.OneByteReader(bytes.NewReader(tt.in))},
				{"half", iotest.HalfReader(bytes.NewReader(tt.in))},
			} {
				r, err := NewBinaryReader(src.r, &tt.opts)
				require.NoError(t, err)
				var ids []string
				var offsets []int64
				warned := false
				for {
					rec, err := r.Read()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						var e *Error
						require.ErrorAs(t, err, &e, src.name)
						require.ErrorIs(t, e, tt.want.errKind, src.name)
						ids = append(ids, "!")
						offsets = append(offsets, e.Offset)
						continue
					}
					ids = append(ids, rec.ControlNumber())
					for _, w := range rec.Warnings {
						var e *Error
						require.ErrorAs(t, w, &e)
						if tt.want.warning != "" && strings.Contains(e.Msg, tt.want.warning) {
							warned = true
						}
						if tt.want.warning == "" {
							require.Fail(t, "unexpected warning", "%s: %v", src.name, w)
						}
					}
					offsets = append(offsets, r.p.off) // where the record just read began
				}
				require.Equal(t, tt.want.ids, ids, src.name)
				if tt.want.offsets != nil {
					require.Equal(t, tt.want.offsets, offsets, src.name)
				}
				require.Equal(t, tt.want.warning != "", warned, src.name)
				// After the end, the end again.
				_, err = r.Read()
				require.ErrorIs(t, err, io.EOF)
			}
		})
	}
}

func TestBinaryReaderReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	rec := rawRecord('a', "001", "one", "245", "10\x1faFirst")
	r, err := NewBinaryReader(io.MultiReader(bytes.NewReader(rec), iotest.ErrReader(boom)), nil)
	require.NoError(t, err)
	got, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, "one", got.ControlNumber())
	_, err = r.Read()
	require.ErrorIs(t, err, boom)
}

func TestNewBinaryReaderOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *BinaryReaderOptions
		err  string
	}{
		{name: "nil", opts: nil},
		{name: "zero", opts: &BinaryReaderOptions{}},
		{name: "all set", opts: &BinaryReaderOptions{Encoding: EncodingMARC8, Strict: true, MaxRecordLength: 99999}},
		{name: "bad encoding", opts: &BinaryReaderOptions{Encoding: 7}, err: "BinaryReaderOptions.Encoding"},
		{name: "negative length", opts: &BinaryReaderOptions{MaxRecordLength: -1}, err: "BinaryReaderOptions.MaxRecordLength"},
		{name: "tiny length", opts: &BinaryReaderOptions{MaxRecordLength: 10}, err: "BinaryReaderOptions.MaxRecordLength"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewBinaryReader(bytes.NewReader(nil), tt.opts)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Nil(t, r)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestParseEncoding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Encoding{"": EncodingAuto, "auto": EncodingAuto, "UTF-8": EncodingUTF8, "utf8": EncodingUTF8, "marc8": EncodingMARC8, "MARC-8": EncodingMARC8} {
		got, err := ParseEncoding(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		if in != "" {
			again, err := ParseEncoding(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again)
		}
	}
	_, err := ParseEncoding("latin1")
	require.ErrorContains(t, err, `unknown encoding "latin1"`)
	require.Equal(t, "Encoding(9)", Encoding(9).String())
}

func TestUnmarshal(t *testing.T) {
	t.Parallel()
	rec, err := Unmarshal(rawRecord('a', "001", "one", "245", "10\x1faFirst"))
	require.NoError(t, err)
	require.Equal(t, "First", subfield(t, rec, "245", 'a'))

	_, err = Unmarshal([]byte("\n"))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = Unmarshal([]byte("short\x1d"))
	require.ErrorIs(t, err, ErrMalformed)
}

// Malformed data fields: indicators and subfields.
func TestBinaryReaderDataFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    Field
		warning string
	}{
		{"normal", "10\x1faA\x1fbB", Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', "A"}, {'b', "B"}}}, ""},
		{"empty value", "10\x1fa\x1fbB", Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', ""}, {'b', "B"}}}, ""},
		{"one indicator", "1\x1faA", Field{Tag: "245", Ind1: '1', Ind2: ' ', Subfields: []Subfield{{'a', "A"}}}, "only one indicator"},
		{"no subfields", "10", Field{Tag: "245", Ind1: '1', Ind2: '0'}, "data field has no subfields"},
		{"no subfields, junk", "10xyz", Field{Tag: "245", Ind1: '1', Ind2: '0'}, `dropped 3 bytes "xyz"`},
		{"empty field", "", Field{Tag: "245", Ind1: ' ', Ind2: ' '}, "no indicators"},
		{"delimiter at the end", "10\x1faA\x1f", Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', "A"}}}, ""},
		{"doubled delimiter", "10\x1faA\x1f\x1fbB", Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', "A"}, {'b', "B"}}}, "subfield delimiter with no code or data"},
		{"control code", "10\x1f\x01A", Field{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'?', "A"}}}, "subfield code byte 0x01"},
		{"control indicator", "\x011\x1faA", Field{Tag: "245", Ind1: ' ', Ind2: '1', Subfields: []Subfield{{'a', "A"}}}, "not printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := Unmarshal(rawRecord('a', "001", "x", "245", tt.content))
			require.NoError(t, err)
			require.Equal(t, tt.want, rec.Fields[1])
			if tt.warning == "" {
				require.Empty(t, rec.Warnings)
				return
			}
			found := false
			for _, w := range rec.Warnings {
				var e *Error
				require.ErrorAs(t, w, &e)
				require.Equal(t, "245", e.Tag)
				found = found || strings.Contains(e.Msg, tt.warning)
			}
			require.True(t, found, "want %q among %v", tt.warning, rec.Warnings)
		})
	}
}

// A directory entry with a bad tag keeps the record readable.
func TestBinaryReaderBadTag(t *testing.T) {
	t.Parallel()
	rec, err := Unmarshal(rawRecord('a', "001", "x", "2\x015", "10\x1faA"))
	require.NoError(t, err)
	require.Equal(t, "2?5", rec.Fields[1].Tag)
	require.Len(t, rec.Warnings, 1)
	require.Contains(t, rec.Warnings[0].Error(), "is not three letters or digits")
}

// ReadRecord reads the same records as Read, reusing its storage.
func TestBinaryReaderReadRecord(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"pymarc/bad_records.mrc", "marc4j/bad_oversize_field_bad_directory.mrc", "evergreen/map_data.mrc", "pymarc/marc8.dat", "marc4j/chabon.mrc"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := testFile(t, name)
			want, _ := readAll(t, data, nil)
			r, err := NewBinaryReader(bytes.NewReader(data), nil)
			require.NoError(t, err)
			var rec Record
			var prevFirst string
			for i := 0; ; i++ {
				err := r.ReadRecord(&rec)
				if errors.Is(err, io.EOF) {
					require.Equal(t, len(want), i)
					break
				}
				require.NoError(t, err)
				require.Equal(t, want[i].Leader, rec.Leader)
				require.Equal(t, want[i].Warnings, rec.Warnings)
				if len(want[i].Fields) == 0 {
					require.Empty(t, rec.Fields)
				} else {
					require.Equal(t, want[i].Fields, rec.Fields)
				}
				// Strings from earlier records stay valid.
				if i > 0 {
					require.Equal(t, want[i-1].ControlNumber(), prevFirst)
				}
				prevFirst = rec.ControlNumber()
			}
		})
	}

	t.Run("unchanged on error", func(t *testing.T) {
		t.Parallel()
		r, err := NewBinaryReader(bytes.NewReader([]byte("short\x1d")), nil)
		require.NoError(t, err)
		rec := Record{Fields: []Field{{Tag: "001", Value: "keep"}}}
		require.ErrorIs(t, r.ReadRecord(&rec), ErrMalformed)
		require.Equal(t, "keep", rec.ControlNumber())
	})
}

// Recovering a long record whose every directory offset is wrong stays linear
// (a search of the whole directory per field took seconds here).
func TestBinaryReaderRecoveryScales(t *testing.T) {
	t.Parallel()
	const n = 20000
	var dir, data strings.Builder
	for i := range n {
		dir.WriteString("500" + pad(3, 4) + pad((i*3+1)%100000, 5)) // one byte off
		data.WriteString("  \x1e")
	}
	dir.WriteByte(fieldTerminator)
	base := leaderLen + dir.Len()
	rec := []byte(pad((base+data.Len()+1)%100000, 5) + "nam a22" + pad(base%100000, 5) + " a 4500" + dir.String() + data.String() + "\x1d")
	recs, errs := readAll(t, rec, nil)
	require.Empty(t, errs)
	require.Len(t, recs[0].Fields, n)
	for _, f := range recs[0].Fields {
		require.Equal(t, "500", f.Tag)
	}
	require.NotEmpty(t, recs[0].Warnings)
}
