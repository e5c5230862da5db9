package marc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// skimTags are the tag sets the tests skim for.
var skimTags = map[string]func(string) bool{
	"none":   func(string) bool { return false },
	"all":    func(string) bool { return true },
	"keys":   func(t string) bool { return slices.Contains([]string{"001", "003", "020", "022", "035", "245"}, t) },
	"5XX":    func(t string) bool { return t[0] == '5' },
	"letter": func(t string) bool { return t[0] > '9' || t[1] > '9' || t[2] > '9' },
}

// rawRecords frames every record of every binary test file.
func rawRecords(t testing.TB) []RawRecord {
	var raws []RawRecord
	for _, path := range binaryTestFiles(t) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		r, err := NewBinaryReader(bytes.NewReader(data), nil)
		require.NoError(t, err)
		for {
			raw, err := r.ReadRaw()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				continue // unframeable: ReadRaw's tests' business
			}
			raw.Bytes = bytes.Clone(raw.Bytes)
			raws = append(raws, raw)
		}
	}
	require.NotEmpty(t, raws)
	return raws
}

// only is rec's fields that want accepts, in order.
func only(rec *Record, want func(string) bool) []Field {
	var out []Field
	for _, f := range rec.Fields {
		if want(f.Tag) {
			out = append(out, f)
		}
	}
	return out
}

// checkSkim holds Skim to its promise for one record: a canonical record is
// what Marshal writes for the record UnmarshalRaw decodes, with the wanted
// fields decoded as UnmarshalRaw decodes them; any other is UnmarshalRaw's.
func checkSkim(t *testing.T, raw RawRecord, want func(string) bool) (canonical bool) {
	t.Helper()
	full, fullErr := new(Decoder).UnmarshalRaw(raw)
	s, rec, err := new(Decoder).Skim(raw, want)
	if fullErr != nil {
		require.Equal(t, fullErr.Error(), err.Error())
		return false
	}
	require.NoError(t, err)
	if s == nil {
		require.Equal(t, full, rec)
		return false
	}
	require.Nil(t, rec)
	out, err := Marshal(full)
	require.NoError(t, err, "a canonical record is one Marshal writes")
	require.Equal(t, string(out), string(s.Bytes), "canonical bytes are Marshal's")
	require.Equal(t, full.Leader, s.Partial.Leader)
	require.Equal(t, only(full, want), s.Partial.Fields)
	return true
}

func TestSkim(t *testing.T) {
	raws := rawRecords(t)
	var canonical, marshaled int
	for name, want := range skimTags {
		t.Run(name, func(t *testing.T) {
			for _, raw := range raws {
				if checkSkim(t, raw, want) {
					canonical++
				}
				// What Marshal writes is canonical.
				rec, err := new(Decoder).UnmarshalRaw(raw)
				if err != nil {
					continue
				}
				out, err := Marshal(rec)
				if err != nil {
					continue
				}
				again, err := new(Decoder).Unmarshal(out)
				require.NoError(t, err)
				if len(again.Warnings) > 0 {
					continue // what Marshal keeps of the problems (no fields, a tag of spaces)
				}
				require.True(t, checkSkim(t, RawRecord{Bytes: out, Ordinal: 1}, want), "Marshal's bytes of record %d are not canonical", raw.Ordinal)
				marshaled++
			}
		})
	}
	t.Logf("%d records, %d skims canonical as read, %d of Marshal's", len(raws), canonical, marshaled)
	require.Positive(t, canonical)
}

// assemble writes a record from its leader and fields (tag, then the data
// without terminator), directory and lengths computed, the data as given.
func assemble(leader string, fields ...string) []byte {
	var dir, data []byte
	for _, f := range fields {
		dir = append(dir, f[:3]...)
		dir = append(dir, make([]byte, 9)...)
		putDigits(dir[len(dir)-9:len(dir)-5], len(f)-3+1)
		putDigits(dir[len(dir)-5:], len(data))
		data = append(append(data, f[3:]...), fieldTerminator)
	}
	b := append([]byte(leader), dir...)
	b = append(b, fieldTerminator)
	base := len(b)
	b = append(append(b, data...), recordTerminator)
	putDigits(b[0:5], len(b))
	putDigits(b[12:17], base)
	return b
}

// TestSkimNotCanonical: what Marshal would write differently is not
// canonical, though nothing in it is worth a warning.
func TestSkimNotCanonical(t *testing.T) {
	const leader = "00000nam a2200000 i 4500"
	good := assemble(leader, "001x1", "24510\x1faTitle")
	s, _, err := new(Decoder).Skim(RawRecord{Bytes: good}, skimTags["all"])
	require.NoError(t, err)
	require.NotNil(t, s)
	out, err := Marshal(s.Partial)
	require.NoError(t, err)
	require.Equal(t, string(good), string(out))

	blank := []byte(leader)
	blank[9] = ' '
	for name, b := range map[string][]byte{
		"trailing delimiter":           assemble(leader, "001x1", "24510\x1faTitle\x1f"),
		"delimiter in a control field": assemble(leader, "001x\x1f1", "24510\x1faTitle"),
		"leader/22-23":                 assemble("00000nam a2200000 i 4512", "001x1", "24510\x1faTitle"),
		"leader/09 blank":              assemble(string(blank), "001x1", "24510\x1faTitle"),
		"directory out of order":       swapEntries(good),
	} {
		t.Run(name, func(t *testing.T) {
			full, err := new(Decoder).Unmarshal(b)
			require.NoError(t, err)
			require.Empty(t, full.Warnings)
			s, rec, err := new(Decoder).Skim(RawRecord{Bytes: b}, skimTags["all"])
			require.NoError(t, err)
			require.Nil(t, s)
			require.Equal(t, full, rec)
		})
	}
}

// swapEntries swaps the two directory entries of a two-field record.
func swapEntries(b []byte) []byte {
	b = bytes.Clone(b)
	e1 := bytes.Clone(b[24:36])
	copy(b[24:36], b[36:48])
	copy(b[36:48], e1)
	return b
}

func FuzzSkim(f *testing.F) {
	for _, s := range binarySeeds(f) {
		f.Add(s, uint8(0))
	}
	names := []string{"none", "all", "keys", "5XX", "letter"}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		checkSkim(t, RawRecord{Bytes: data, Ordinal: 1}, skimTags[names[int(which)%len(names)]])
	})
}

// spliceRecords is Splice on decoded records: base's fields but those
// fromOther accepts, then other's that it accepts, each added by AddField.
func spliceRecords(base, other *Record, fromOther func(string) bool) *Record {
	out := &Record{Leader: base.Leader}
	for _, f := range base.Fields {
		if !fromOther(f.Tag) {
			out.Fields = append(out.Fields, f)
		}
	}
	for _, f := range other.Fields {
		if fromOther(f.Tag) {
			out.AddField(f)
		}
	}
	return out
}

// TestSplice: Splice writes what Marshal writes for the spliced records, and
// decodes what they decode to, for pairs of test records.
func TestSplice(t *testing.T) {
	var skims []*Skimmed
	var recs []*Record
	want := skimTags["keys"]
	for _, raw := range rawRecords(t) {
		s, rec, err := new(Decoder).Skim(raw, want)
		if err != nil {
			continue
		}
		if s == nil {
			if s, err = SkimOf(rec, want); err != nil {
				continue
			}
		} else if rec, err = new(Decoder).UnmarshalRaw(raw); err != nil {
			t.Fatal(err)
		}
		skims, recs = append(skims, s), append(recs, rec)
	}
	dec := new(Decoder)
	for name, from := range skimTags {
		t.Run(name, func(t *testing.T) {
			for i := 1; i < len(skims); i++ {
				got, err := Splice(skims[i-1], skims[i], from)
				wantRec := spliceRecords(recs[i-1], recs[i], from)
				wantBytes, wantErr := Marshal(wantRec)
				if wantErr != nil {
					require.ErrorIs(t, err, ErrRecordTooLong)
					require.Equal(t, wantErr.Error(), err.Error())
					continue
				}
				require.NoError(t, err)
				require.Equal(t, string(wantBytes), string(got.Bytes), "records %d and %d", i-1, i)
				decoded, err := dec.Unmarshal(got.Bytes)
				require.NoError(t, err)
				require.Equal(t, decoded.Leader, got.Partial.Leader)
				if len(decoded.Warnings) == 0 {
					require.Equal(t, only(decoded, want), got.Partial.Fields)
				}
				// A splice splices again (a record merged twice in one chunk).
				again, err := Splice(got, skims[i-1], from)
				if err == nil {
					wantAgain, err := Marshal(spliceRecords(decoded, recs[i-1], from))
					require.NoError(t, err)
					require.Equal(t, string(wantAgain), string(again.Bytes))
				}
			}
		})
	}
}

// TestSpliceTooLong: a splice longer than ISO 2709 allows fails as Marshal
// does.
func TestSpliceTooLong(t *testing.T) {
	half := func(tag string) *Record {
		rec := &Record{Fields: []Field{{Tag: "001", Value: "big"}}}
		copy(rec.Leader[:], "00000nam a2200000 i 4500")
		for range 6 {
			rec.Fields = append(rec.Fields, Field{Tag: tag, Ind1: ' ', Ind2: ' ', Subfields: []Subfield{{Code: 'a', Value: string(bytes.Repeat([]byte("x"), 9000))}}})
		}
		return rec
	}
	skim := func(rec *Record) *Skimmed {
		b, err := Marshal(rec)
		require.NoError(t, err)
		s, _, err := new(Decoder).Skim(RawRecord{Bytes: b}, skimTags["keys"])
		require.NoError(t, err)
		require.NotNil(t, s)
		return s
	}
	base, other := half("500"), half("520")
	from := func(tag string) bool { return tag == "520" }
	_, wantErr := Marshal(spliceRecords(base, other, from))
	require.ErrorIs(t, wantErr, ErrRecordTooLong)
	_, err := Splice(skim(base), skim(other), from)
	require.ErrorIs(t, err, ErrRecordTooLong)
	require.Equal(t, wantErr.Error(), err.Error())
}

// TestSkimOf: SkimOf writes what Marshal writes, and its fields are the
// record's, as decoding Marshal's bytes gives them back.
func TestSkimOf(t *testing.T) {
	want := skimTags["keys"]
	for _, raw := range rawRecords(t) {
		rec, err := new(Decoder).UnmarshalRaw(raw)
		if err != nil {
			continue
		}
		out, wantErr := Marshal(rec)
		s, err := SkimOf(rec, want)
		if wantErr != nil {
			require.Equal(t, wantErr.Error(), err.Error())
			continue
		}
		require.NoError(t, err)
		require.Equal(t, string(out), string(s.Bytes))
		again, err := new(Decoder).Unmarshal(out)
		require.NoError(t, err)
		require.Equal(t, again.Leader, s.Partial.Leader)
		if len(again.Warnings) == 0 {
			require.Equal(t, only(again, want), s.Partial.Fields)
		}
	}
}
