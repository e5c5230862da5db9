package marc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestMarshalLayout(t *testing.T) {
	t.Parallel()
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "id1"},
		{Tag: "245", Ind1: '1', Ind2: '0', Subfields: []Subfield{{'a', "Title /"}, {'c', "Author."}}},
	}}
	copy(rec.Leader[:], "00000nam  2200000 a 4500")
	got, err := Marshal(rec)
	require.NoError(t, err)
	want := rawRecord('a', "001", "id1", "245", "10\x1faTitle /\x1fcAuthor.")
	require.Equal(t, string(want), string(got))
}

func TestMarshalLeader(t *testing.T) {
	t.Parallel()
	rec := &Record{Fields: []Field{{Tag: "001", Value: "x"}}}
	copy(rec.Leader[:], "99999cam 1230000004 9876") // lengths and structure are recomputed
	got, err := Marshal(rec)
	require.NoError(t, err)
	require.Equal(t, "00040cam a220003704 4500", string(got[:leaderLen]))

	// A zero leader is written as blanks.
	got, err = Marshal(&Record{Fields: []Field{{Tag: "001", Value: "x"}}})
	require.NoError(t, err)
	require.Equal(t, "00040    a2200037   4500", string(got[:leaderLen]))

	// No fields at all.
	got, err = Marshal(&Record{})
	require.NoError(t, err)
	require.Equal(t, "00026    a2200025   4500\x1e\x1d", string(got))
}

func TestMarshalFieldForms(t *testing.T) {
	t.Parallel()
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "x"},
		{Tag: "FMT", Value: "BK"},                           // value, no subfields: as a control field
		{Tag: "500", Subfields: []Subfield{{'a', "Note."}}}, // zero indicators: blanks
		{Tag: "590"}, // neither: indicators only
	}}
	copy(rec.Leader[:], "00000nam  2200000 a 4500")
	got, err := Marshal(rec)
	require.NoError(t, err)
	require.Equal(t, string(rawRecord('a', "001", "x", "FMT", "BK", "500", "  \x1faNote.", "590", "  ")), string(got))
}

func TestMarshalErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxFieldLen)
	tests := []struct {
		name string
		f    Field
		kind error
		msg  string
	}{
		{"short tag", Field{Tag: "24", Subfields: []Subfield{{'a', "x"}}}, ErrInvalidField, `tag "24" is not 3 bytes`},
		{"long tag", Field{Tag: "2450", Subfields: []Subfield{{'a', "x"}}}, ErrInvalidField, `tag "2450" is not 3 bytes`},
		{"tag with a delimiter", Field{Tag: "2\x1e5", Subfields: []Subfield{{'a', "x"}}}, ErrInvalidField, "tag \"2\\x1e5\" holds a delimiter byte"},
		{"control field with subfields", Field{Tag: "008", Subfields: []Subfield{{'a', "x"}}}, ErrInvalidField, "control field has subfields"},
		{"delimiter in a control value", Field{Tag: "005", Value: "a\x1db"}, ErrInvalidField, "value holds a delimiter byte"},
		{"delimiter in a subfield value", Field{Tag: "245", Subfields: []Subfield{{'a', "a\x1fb"}}}, ErrInvalidField, "subfield $a value holds a delimiter byte"},
		{"delimiter as indicator", Field{Tag: "245", Ind1: 0x1e, Subfields: []Subfield{{'a', "x"}}}, ErrInvalidField, "indicator is a delimiter byte"},
		{"zero subfield code", Field{Tag: "245", Subfields: []Subfield{{0, "x"}}}, ErrInvalidField, "subfield code is byte 0x00"},
		{"delimiter as subfield code", Field{Tag: "245", Subfields: []Subfield{{0x1f, "x"}}}, ErrInvalidField, "subfield code is byte 0x1F"},
		{"invalid UTF-8", Field{Tag: "245", Subfields: []Subfield{{'a', "caf\xe9"}}}, ErrEncoding, "not valid UTF-8"},
		{"field too long", Field{Tag: "520", Subfields: []Subfield{{'a', long}}}, ErrFieldTooLong, "field is 10004 bytes; ISO 2709 allows 9999"},
		{"control field too long", Field{Tag: "009", Value: long}, ErrFieldTooLong, "field is 10000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &Record{Fields: []Field{{Tag: "001", Value: "id9"}, tt.f}}
			got, err := Marshal(rec)
			require.Nil(t, got)
			require.ErrorIs(t, err, tt.kind)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "id9", e.ID)
			require.Equal(t, 1, e.Ordinal)
			require.Contains(t, e.Msg, tt.msg)
			if tt.f.Tag != "2\x1e5" {
				require.Equal(t, tt.f.Tag, e.Tag)
			}
		})
	}
}

func TestMarshalRecordTooLong(t *testing.T) {
	t.Parallel()
	rec := &Record{}
	for range 12 {
		rec.Fields = append(rec.Fields, Field{Tag: "500", Subfields: []Subfield{{'a', strings.Repeat("x", 9000)}}})
	}
	_, err := Marshal(rec)
	require.ErrorIs(t, err, ErrRecordTooLong)
	require.ErrorContains(t, err, "record would be 108230 bytes; ISO 2709 allows 99999")

	rec.Fields = rec.Fields[:11]
	got, err := Marshal(rec)
	require.NoError(t, err)
	require.Len(t, got, 99213)
}

func TestBinaryWriterSplitLongFields(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ab€", 5000) // 25,000 bytes, multi-byte characters
	rec := &Record{Fields: []Field{
		{Tag: "001", Value: "id"},
		{Tag: "009", Value: strings.Repeat("c", 12000)},
		{Tag: "505", Ind1: '0', Ind2: ' ', Subfields: []Subfield{{'a', "Short."}, {'t', long}, {'r', "Author."}}},
		{Tag: "520", Subfields: []Subfield{{'a', strings.Repeat("s", 6000)}, {'b', strings.Repeat("t", 6000)}}},
	}}
	var buf bytes.Buffer
	w := NewBinaryWriter(&buf, &BinaryWriterOptions{SplitLongFields: true})
	require.NoError(t, w.Write(rec))

	got, err := Unmarshal(buf.Bytes())
	require.NoError(t, err)
	require.Empty(t, got.Warnings)
	require.Equal(t, []string{"001", "009", "009", "505", "505", "505", "505", "520", "520"}, tags(got))
	for _, f := range got.Fields {
		require.LessOrEqual(t, encodedLen(&f), maxFieldLen)
		require.Equal(t, byte('0'), got.Fields[3].Ind1)
	}
	var ctrl strings.Builder
	for _, f := range got.FieldsByTag("009") {
		ctrl.WriteString(f.Value)
	}
	require.Equal(t, rec.Fields[1].Value, ctrl.String())

	// The subfields of the 505s, joined per code, are the original ones.
	var codes []byte
	var text strings.Builder
	for _, f := range got.FieldsByTag("505") {
		require.Equal(t, byte('0'), f.Ind1)
		for _, s := range f.Subfields {
			require.True(t, utf8.ValidString(s.Value))
			if s.Code == 't' {
				text.WriteString(s.Value)
			}
			if len(codes) == 0 || codes[len(codes)-1] != s.Code {
				codes = append(codes, s.Code)
			}
		}
	}
	require.Equal(t, "atr", string(codes))
	require.Equal(t, long, text.String())

	// Two subfields that do not fit one field together go to two fields.
	f520 := got.FieldsByTag("520")
	require.Equal(t, []Subfield{{'a', strings.Repeat("s", 6000)}}, f520[0].Subfields)
	require.Equal(t, []Subfield{{'b', strings.Repeat("t", 6000)}}, f520[1].Subfields)

	// Splitting does not make a record fit that is too long.
	huge := &Record{Fields: []Field{{Tag: "500", Subfields: []Subfield{{'a', strings.Repeat("x", 120000)}}}}}
	err = w.Write(huge)
	require.ErrorIs(t, err, ErrRecordTooLong)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 2, e.Ordinal)
	require.Equal(t, int64(buf.Len()), e.Offset)
}

// A refused record writes nothing and the writer goes on.
func TestBinaryWriterGoesOn(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewBinaryWriter(&buf, nil)
	good := &Record{Fields: []Field{{Tag: "001", Value: "good"}}}
	require.NoError(t, w.Write(good))
	n := buf.Len()
	err := w.Write(&Record{Fields: []Field{{Tag: "001", Value: "bad"}, {Tag: "500", Subfields: []Subfield{{'a', strings.Repeat("x", 10000)}}}}})
	require.ErrorIs(t, err, ErrFieldTooLong)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 2, e.Ordinal)
	require.Equal(t, int64(n), e.Offset)
	require.Equal(t, "bad", e.ID)
	require.Equal(t, "500", e.Tag)
	require.Equal(t, n, buf.Len())
	require.NoError(t, w.Write(good))

	recs, errs := readAll(t, buf.Bytes(), nil)
	require.Empty(t, errs)
	require.Len(t, recs, 2)
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestBinaryWriterWriteError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	err := NewBinaryWriter(failingWriter{boom}, nil).Write(&Record{})
	require.ErrorIs(t, err, boom)
}

// Read, write, read again: the same records. Good files are written back byte for
// byte when they were canonical to begin with; broken ones come back clean.
func TestBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range binaryFiles {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := testFile(t, tt.name)
			recs, _ := readAll(t, data, nil)

			var out bytes.Buffer
			w := NewBinaryWriter(&out, nil)
			var written []*Record
			for _, rec := range recs {
				err := w.Write(rec)
				switch {
				case err == nil:
					written = append(written, rec)
				case tt.name == "marc4j/bad_oversize_field_bad_directory.mrc":
					require.ErrorIs(t, err, ErrFieldTooLong) // its 520 is 11,242 bytes
					require.ErrorContains(t, err, "field 520")
				case tt.name == "marc4j/bad_too_long_plus_2.mrc":
					require.ErrorIs(t, err, ErrRecordTooLong) // 123,375 bytes
				default:
					require.NoError(t, err)
				}
			}

			again, errs := readAll(t, out.Bytes(), nil)
			require.Empty(t, errs)
			require.Len(t, again, len(written))
			for i := range again {
				// What is still wrong is what the writer keeps: a bad tag, no fields.
				for _, w := range again[i].Warnings {
					require.Regexp(t, "is not three letters or digits|record has no fields", w.Error())
				}
				requireSameRecord(t, written[i], again[i])
			}
			if differ, ok := canonical[tt.name]; ok {
				requireSameBytes(t, data, out.Bytes(), differ)
			}
		})
	}
}

// canonical are the files the writer reproduces byte for byte but for the leader
// positions listed: leader/09 becomes 'a' (the text is UTF-8 or plain ASCII) and
// 20-23 "4500".
var canonical = map[string][]int{
	"evergreen/auth-1066.mrc":             {22},
	"evergreen/map_data.mrc":              {9},
	"marc4j/chabon.mrc":                   nil,
	"marc4j/summerland.mrc":               nil,
	"pymarc/diacritic.dat":                nil,
	"pymarc/marc.dat":                     {9},
	"pymarc/multi_isbn.dat":               nil,
	"pymarc/test.dat":                     {9},
	"pymarc/utf8_with_leader_flag.dat":    nil,
	"pymarc/utf8_without_leader_flag.dat": {9},
}

func requireSameBytes(t testing.TB, in, out []byte, differ []int) {
	t.Helper()
	require.Len(t, out, len(in))
	in = bytes.Clone(in)
	for start := 0; start < len(in); {
		for _, p := range differ {
			in[start+p] = out[start+p]
		}
		start += bytes.IndexByte(in[start:], recordTerminator) + 1
	}
	require.Equal(t, in, out)
}

// With SplitLongFields, every record of every file can be written.
func TestBinaryRoundTripSplit(t *testing.T) {
	t.Parallel()
	data := testFile(t, "marc4j/bad_oversize_field_bad_directory.mrc")
	recs, _ := readAll(t, data, nil)
	var out bytes.Buffer
	w := NewBinaryWriter(&out, &BinaryWriterOptions{SplitLongFields: true})
	for _, rec := range recs {
		require.NoError(t, w.Write(rec))
	}
	again, errs := readAll(t, out.Bytes(), nil)
	require.Empty(t, errs)
	require.Len(t, again, 5)
	require.Len(t, again[1].FieldsByTag("520"), 2)
	var joined string
	for _, f := range again[1].FieldsByTag("520") {
		joined += f.Subfields[0].Value
	}
	require.Equal(t, recs[1].FirstField("520").Subfields[0].Value, joined)
}

func requireSameRecord(t testing.TB, want, got *Record) {
	t.Helper()
	require.Equal(t, want.Fields, got.Fields)
	// The lengths in the leader are recomputed.
	wl, gl := want.Leader, got.Leader
	copy(wl[0:5], gl[0:5])
	copy(wl[12:17], gl[12:17])
	require.Equal(t, string(wl[:]), string(gl[:]))
}
