package marc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func testRecord() *Record {
	return &Record{Fields: []Field{
		{Tag: "001", Value: "ocm123"},
		{Tag: "008", Value: "900101s1990    xx            000 0 eng d"},
		{Tag: "100", Ind1: '1', Ind2: ' ', Subfields: []Subfield{{'a', "Hunt, Andrew."}}},
		{Tag: "245", Ind1: '1', Ind2: '4', Subfields: []Subfield{{'a', "The pragmatic programmer :"}, {'b', "from journeyman to master /"}, {'c', "Andrew Hunt."}}},
		{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []Subfield{{'a', "Computer programming."}, {'x', "History."}, {'x', "Sources."}}},
		{Tag: "650", Ind1: ' ', Ind2: '0', Subfields: []Subfield{{'a', "Software engineering."}}},
	}}
}

func tags(r *Record) []string {
	var out []string
	for _, f := range r.Fields {
		out = append(out, f.Tag)
	}
	return out
}

func TestRecordControlNumber(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ocm123", testRecord().ControlNumber())
	require.Empty(t, (&Record{}).ControlNumber())
}

func TestRecordFirstField(t *testing.T) {
	t.Parallel()
	r := testRecord()
	f := r.FirstField("650")
	require.NotNil(t, f)
	require.Equal(t, "Computer programming.", f.Subfields[0].Value)
	require.Same(t, &r.Fields[4], f)
	require.Nil(t, r.FirstField("999"))
}

func TestRecordFieldsByTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tags []string
		want []string
	}{
		{"one tag, repeated", []string{"650"}, []string{"650", "650"}},
		{"several tags", []string{"245", "001"}, []string{"001", "245"}},
		{"absent", []string{"999"}, nil},
		{"all", nil, []string{"001", "008", "100", "245", "650", "650"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := testRecord()
			var got []string
			for _, f := range r.FieldsByTag(tt.tags...) {
				got = append(got, f.Tag)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRecordFieldsSeq(t *testing.T) {
	t.Parallel()
	r := testRecord()
	n := 0
	for f := range r.FieldsSeq("650") {
		f.Ind1 = '9' // pointers into the record
		n++
	}
	require.Equal(t, 2, n)
	require.Equal(t, byte('9'), r.Fields[5].Ind1)

	// Early break.
	n = 0
	for range r.FieldsSeq() {
		n++
		break
	}
	require.Equal(t, 1, n)
}

func TestRecordAddField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tag  string
		want []string
	}{
		{"020", []string{"001", "008", "020", "100", "245", "650", "650"}},
		{"650", []string{"001", "008", "100", "245", "650", "650", "650"}},
		{"999", []string{"001", "008", "100", "245", "650", "650", "999"}},
		{"000", []string{"000", "001", "008", "100", "245", "650", "650"}},
		{"001", []string{"001", "001", "008", "100", "245", "650", "650"}},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			r := testRecord()
			r.AddField(Field{Tag: tt.tag, Value: "new"})
			require.Equal(t, tt.want, tags(r))
			// The new field comes after the existing ones with the same tag.
			last := -1
			for i, f := range r.Fields {
				if f.Tag == tt.tag {
					last = i
				}
			}
			require.Equal(t, "new", r.Fields[last].Value)
		})
	}

	t.Run("empty record", func(t *testing.T) {
		t.Parallel()
		r := &Record{}
		r.AddField(Field{Tag: "245"})
		r.AddField(Field{Tag: "001"})
		require.Equal(t, []string{"001", "245"}, tags(r))
	})
}

func TestRecordRemoveFields(t *testing.T) {
	t.Parallel()
	r := testRecord()
	require.Equal(t, 3, r.RemoveFields("650", "001"))
	require.Equal(t, []string{"008", "100", "245"}, tags(r))
	require.Equal(t, 0, r.RemoveFields("999"))
}

func TestRecordReplaceField(t *testing.T) {
	t.Parallel()
	r := testRecord()
	old := r.FieldsByTag("650")[1]
	require.True(t, r.ReplaceField(old, Field{Tag: "651", Ind2: '0', Subfields: []Subfield{{'a', "Europe."}}}))
	require.Equal(t, []string{"001", "008", "100", "245", "650", "651"}, tags(r))
	require.Equal(t, "Europe.", r.Fields[5].Subfields[0].Value)

	other := testRecord()
	require.False(t, r.ReplaceField(&other.Fields[0], Field{Tag: "001"}))
	require.False(t, r.ReplaceField(nil, Field{Tag: "001"}))
}

func TestFieldSubfields(t *testing.T) {
	t.Parallel()

	t.Run("FirstSubfield", func(t *testing.T) {
		t.Parallel()
		f := testRecord().FirstField("650")
		v, ok := f.FirstSubfield('x')
		require.True(t, ok)
		require.Equal(t, "History.", v)
		v, ok = f.FirstSubfield('z')
		require.False(t, ok)
		require.Empty(t, v)
	})

	t.Run("SubfieldValues", func(t *testing.T) {
		t.Parallel()
		f := testRecord().FirstField("650")
		require.Equal(t, []string{"History.", "Sources."}, f.SubfieldValues('x'))
		require.Equal(t, []string{"Computer programming.", "History.", "Sources."}, f.SubfieldValues())
		require.Equal(t, []string{"Computer programming.", "History.", "Sources."}, f.SubfieldValues('a', 'x'))
		require.Equal(t, []string{"Sources."}, f.SubfieldValues('x')[1:])
		require.Nil(t, f.SubfieldValues('z'))
	})

	t.Run("AddSubfield", func(t *testing.T) {
		t.Parallel()
		f := testRecord().FirstField("100")
		f.AddSubfield('d', "1964-")
		require.Equal(t, []Subfield{{'a', "Hunt, Andrew."}, {'d', "1964-"}}, f.Subfields)
	})

	t.Run("RemoveSubfields", func(t *testing.T) {
		t.Parallel()
		f := testRecord().FirstField("650")
		require.Equal(t, 2, f.RemoveSubfields('x', 'z'))
		require.Equal(t, []Subfield{{'a', "Computer programming."}}, f.Subfields)
		require.Equal(t, 0, f.RemoveSubfields('x'))
	})

	t.Run("SetSubfield", func(t *testing.T) {
		t.Parallel()
		f := testRecord().FirstField("650")
		f.SetSubfield('x', "Historiography.")
		require.Equal(t, []string{"Historiography.", "Sources."}, f.SubfieldValues('x'))
		f.SetSubfield('2', "lcsh")
		v, _ := f.FirstSubfield('2')
		require.Equal(t, "lcsh", v)
		require.Len(t, f.Subfields, 4)
	})
}

// Subfields of a record read from a file share one backing array; growing one
// field's subfields must not overwrite the next field's.
func TestFieldAddSubfieldDoesNotClobberNeighbour(t *testing.T) {
	t.Parallel()
	data, err := Marshal(testRecord())
	require.NoError(t, err)
	r, err := Unmarshal(data)
	require.NoError(t, err)
	f245 := r.FirstField("245")
	f245.AddSubfield('z', "added")
	require.Equal(t, "Computer programming.", r.FieldsByTag("650")[0].Subfields[0].Value)
	require.Equal(t, "added", f245.Subfields[3].Value)
}
