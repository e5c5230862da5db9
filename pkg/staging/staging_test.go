package staging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/staging"
	"github.com/bindery/bindery/pkg/testenv"
)

// stage stages data as a new job's file, in groups of size, and returns the
// job's id and what was staged.
func stage(t testing.TB, db *testenv.Database, data []byte, encoding string, size int) (int64, staging.Result) {
	t.Helper()
	ctx := context.Background()
	var job *jobs.Job
	var res staging.Result
	p := &config.ImportProfile{ID: "p", Encoding: encoding}
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		job, err = jobs.NewStore(db.Pool).InsertTx(ctx, tx, jobs.NewJob{Institution: "main", Type: "metadata-import",
			SubmittedBy: "test", PriorityClass: "default"}, nil)
		if err != nil {
			return err
		}
		res, err = staging.Stage(ctx, tx, job.ID, bytes.NewReader(data), p, size)
		return err
	}))
	return job.ID, res
}

// unstage reads the job's groups back, as Metadata Import does, and
// describes every record: what the worker gets for each ordinal.
func unstage(t *testing.T, db *testenv.Database, jobID int64, size int) []string {
	t.Helper()
	ctx := context.Background()
	var encoding string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT raw_encoding FROM import_files WHERE job_id = $1`, jobID).Scan(&encoding))
	enc, err := marc.ParseEncoding(encoding)
	require.NoError(t, err)
	dec, err := marc.NewDecoder(&marc.BinaryReaderOptions{Encoding: enc})
	require.NoError(t, err)
	rows, err := db.Pool.Query(ctx, `SELECT first_ord, records, coalesce(codec, ''), raw, notes FROM import_staging WHERE job_id = $1 ORDER BY first_ord`, jobID)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var first int64
		var n int
		var codec string
		var raw, notes []byte
		require.NoError(t, rows.Scan(&first, &n, &codec, &raw, &notes))
		require.Equal(t, int64(len(out)+1), first, "groups follow each other")
		require.True(t, n == size || n < size && !rows.Next(), "only the last group is short")
		recs, err := staging.Split(first, n, codec, raw, notes)
		require.NoError(t, err)
		for _, r := range recs {
			if r.Error != "" {
				out = append(out, "error: "+r.Error)
				continue
			}
			rec, err := dec.UnmarshalRaw(r.Raw)
			out = append(out, describe(rec, err, r.Warnings))
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// read describes every record of data as a reader reads it.
func read(t *testing.T, next func() (*marc.Record, error)) []string {
	var out []string
	for {
		rec, err := next()
		if errors.Is(err, io.EOF) {
			return out
		}
		var me *marc.Error
		if err != nil && !errors.As(err, &me) {
			t.Fatal(err)
		}
		out = append(out, describe(rec, err, nil))
	}
}

func describe(rec *marc.Record, err error, warnings []string) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q %q", rec.Leader[:], rec.Fields)
	for _, w := range warnings {
		b.WriteString("\n  warning: " + w)
	}
	for _, w := range rec.Warnings {
		b.WriteString("\n  warning: " + w.Error())
	}
	return b.String()
}

// TestStagedAsRead: what the worker decodes from the groups is what the
// reader reads from the file, record by record (ordinals, errors, warnings
// with their offsets), whatever the group size.
func TestStagedAsRead(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	clean, err := os.ReadFile("../../testdata/marc/lul_fre_100.mrc")
	require.NoError(t, err)
	bad, err := os.ReadFile("../../testdata/marc/bad_records.mrc")
	require.NoError(t, err)
	// Stray bytes, junk and a missing terminator between good records.
	first := clean[:bytes.IndexByte(clean, 0x1D)+1]
	messy := slicesConcat(bad, []byte("\r\n"), first, []byte("junk"), first, first[:len(first)-1], first, []byte("00010\x1d"), clean[:5000])
	for _, tc := range []struct {
		name     string
		data     []byte
		encoding string
		size     int
	}{
		{"clean", clean, "auto", 30},
		{"bad", bad, "auto", 1},
		{"messy", messy, "auto", 7},
		{"messy marc8", messy, "marc8", 1000},
		{"messy utf8", messy, "utf8", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := marc.ParseEncoding(tc.encoding)
			require.NoError(t, err)
			r, err := marc.NewBinaryReader(bytes.NewReader(tc.data), &marc.BinaryReaderOptions{Encoding: enc})
			require.NoError(t, err)
			want := read(t, r.Read)
			jobID, res := stage(t, db, tc.data, tc.encoding, tc.size)
			require.Equal(t, int64(len(want)), res.Records)
			require.Equal(t, "marc21", res.Format)
			got := unstage(t, db, jobID, tc.size)
			require.Equal(t, want, got)
		})
	}
}

// TestStagedXML: a MARCXML file is staged as marc.Marshal writes its
// records, to be decoded as UTF-8, with the reader's warnings.
func TestStagedXML(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	data, err := os.ReadFile("../../testdata/marc/concerto_bibs.xml")
	require.NoError(t, err)
	want := read(t, marc.NewXMLReader(bytes.NewReader(data), nil).Read)
	jobID, res := stage(t, db, data, "marc8", 10) // the profile's encoding does not apply
	require.Equal(t, "marcxml", res.Format)
	require.Equal(t, int64(len(want)), res.Records)
	got := unstage(t, db, jobID, 10)
	require.Len(t, got, len(want))
	for i := range want {
		// Read back from ISO 2709: the same fields and warnings; the
		// leader's lengths differ.
		fields := func(s string) string { return s[strings.Index(s, "\" ["):] }
		require.Equal(t, fields(want[i]), fields(got[i]), "record %d", i+1)
	}
}

// TestStageBrokenUpload: an upload that fails while read is an ErrRead;
// an empty one ErrEmpty.
func TestStageBrokenUpload(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	p := &config.ImportProfile{ID: "p"}
	clean, err := os.ReadFile("../../testdata/marc/lul_fre_100.mrc")
	require.NoError(t, err)
	for _, tc := range []struct {
		in   io.Reader
		want error
	}{
		{strings.NewReader(" \n "), staging.ErrEmpty},
		{io.MultiReader(strings.NewReader("00026    a2200025   4500\x1e\x1d"), failing{}), staging.ErrRead},
		// Broken after many groups, with groups still being compressed.
		{io.MultiReader(bytes.NewReader(bytes.Repeat(clean, 10)), failing{}), staging.ErrRead},
		// Broken while COPY sends the groups before (under -race: COPY asks
		// for the source's error while the reader may be setting it).
		{io.MultiReader(bytes.NewReader(bytes.Repeat(clean, 10)), failing{after: 100 * time.Millisecond}), staging.ErrRead},
	} {
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			_, err := staging.Stage(ctx, tx, 1, tc.in, p, 10)
			return err
		})
		require.ErrorIs(t, err, tc.want)
	}
}

// TestStagedCompressed: the server stores groups S2-compressed (codec
// s2, migration 0017); rows staged before (no codec) still read, and a
// group that does not decompress is an error (the job treats it as lost).
func TestStagedCompressed(t *testing.T) {
	t.Parallel()
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	data, err := os.ReadFile("../../testdata/marc/lul_fre_100.mrc")
	require.NoError(t, err)
	jobID, _ := stage(t, db, data, "auto", 100)
	var codec string
	var raw []byte
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT codec, raw FROM import_staging WHERE job_id = $1`, jobID).Scan(&codec, &raw))
	require.Equal(t, "s2", codec)
	require.Less(t, len(raw), len(data)*3/4, "compressed")

	plain, err := staging.Split(1, 100, "", data, nil)
	require.NoError(t, err)
	packed, err := staging.Split(1, 100, codec, raw, nil)
	require.NoError(t, err)
	require.Equal(t, plain, packed)

	_, err = staging.Split(1, 100, codec, raw[:len(raw)/2], nil)
	require.ErrorContains(t, err, "staged group 1")
	_, err = staging.Split(1, 100, "zip", raw, nil)
	require.ErrorContains(t, err, `unknown codec "zip"`)
}

// failing is an upload that breaks, after a while.
type failing struct{ after time.Duration }

func (f failing) Read([]byte) (int, error) {
	time.Sleep(f.after)
	return 0, errors.New("connection reset")
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
