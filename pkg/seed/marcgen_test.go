package seed_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/seed"
)

func sources() []string {
	out := make([]string, len(seed.MARCSources))
	for i, s := range seed.MARCSources {
		out[i] = "../../" + s
	}
	return out
}

func TestWriteMARC(t *testing.T) {
	t.Parallel()
	templates, err := seed.LoadTemplates(sources()...)
	require.NoError(t, err)
	require.Greater(t, len(templates), 1000, "jazz, lul_fre and concerto bibs")

	n := int64(len(templates) + 50) // wraps around the templates
	var buf bytes.Buffer
	size, err := seed.WriteMARC(&buf, templates, n)
	require.NoError(t, err)
	require.EqualValues(t, buf.Len(), size)

	r, err := marc.NewBinaryReader(bytes.NewReader(buf.Bytes()), nil)
	require.NoError(t, err)
	seen := map[catalog.Key]bool{}
	var i int64
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		i++
		require.Empty(t, rec.Warnings, "record %d", i)
		require.NotNil(t, rec.FirstField("245"))
		cn, sn, isbn := seed.MARCIdentity(i)
		require.Equal(t, cn, rec.ControlNumber())
		keys := catalog.Keys(rec)
		require.Contains(t, keys, catalog.Key{Kind: catalog.Key001, Value: seed.MARCOrg + "|" + cn})
		require.Contains(t, keys, catalog.Key{Kind: catalog.Key035, Value: sn})
		require.Contains(t, keys, catalog.Key{Kind: catalog.KeyISBN, Value: isbn})
		for _, k := range keys {
			require.False(t, seen[k], "record %d: key %v also in an earlier record", i, k)
			seen[k] = true
		}
	}
	require.Equal(t, n, i)

	// The first records of a longer file are the records of a shorter one.
	var short bytes.Buffer
	_, err = seed.WriteMARC(&short, templates, 10)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(buf.Bytes(), short.Bytes()))
}
