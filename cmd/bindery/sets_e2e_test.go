//go:build linux

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/sets"
)

// TestSetsThroughTheCLI: import jazz_1k.mrc, then create, show, page,
// export and delete sets with the real binary; the logical set's MARC
// condition counts what an independent read of the file counts.
func TestSetsThroughTheCLI(t *testing.T) {
	c := startCluster(t, clusterOpts{workers: 1})
	tok := c.staffToken(t, "DEMO")
	ctx := context.Background()
	file, err := filepath.Abs("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	c.mustCLI(t, tok, "job", "run", "metadata-import", "--param", "profile=vendor-bibs", "--file", file, "--wait")

	// Independent count: records of the file with "jazz" in a 650 $a.
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	rd, err := marc.NewBinaryReader(f, nil)
	require.NoError(t, err)
	var want int64
	for rec, err := rd.Read(); err == nil; rec, err = rd.Read() {
		if slices.ContainsFunc(rec.FieldsByTag("650"), func(fl *marc.Field) bool {
			return slices.ContainsFunc(fl.SubfieldValues('a'), func(v string) bool { return strings.Contains(strings.ToLower(v), "jazz") })
		}) {
			want++
		}
	}
	require.Positive(t, want)

	var logical sets.Set
	out := c.mustCLI(t, tok, "set", "create", "--name", "Jazz", "--query", `650 $a contains "Jazz"`, "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &logical), out)
	require.Equal(t, sets.Logical, logical.Kind)
	require.Equal(t, want, *logical.Members, "set create counts what the query selects now")
	var shown sets.Set
	out = c.mustCLI(t, tok, "set", "show", fmt.Sprint(logical.ID), "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &shown), out)
	require.NotNil(t, shown.Members)
	require.Equal(t, want, *shown.Members, "650 $a contains \"Jazz\" against an independent count")
	table := c.mustCLI(t, tok, "set", "show", fmt.Sprint(logical.ID))
	require.Contains(t, table, fmt.Sprintf("Members:      %d (the query run now)", want))

	// Paging: two pages of 5 are the first 10 members, in order.
	page := func(offset int) []sets.Member {
		var ms []sets.Member
		out := c.mustCLI(t, tok, "set", "members", fmt.Sprint(logical.ID), "--offset", fmt.Sprint(offset), "--limit", "5", "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &ms), out)
		return ms
	}
	p1, p2 := page(0), page(5)
	require.Len(t, p1, 5)
	require.Len(t, p2, 5)
	require.Equal(t, int64(1), p1[0].Ord)
	require.Equal(t, int64(6), p2[0].Ord)
	require.Less(t, p1[4].ID, p2[0].ID)

	// An itemized set: three records, one id not in the catalog, one repeated.
	rows, err := c.db.Pool.Query(ctx, `SELECT id FROM records WHERE institution = 'DEMO' ORDER BY id DESC LIMIT 3`)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, fmt.Sprint(id))
	}
	require.NoError(t, rows.Err())
	idsPath := filepath.Join(t.TempDir(), "ids.txt")
	require.NoError(t, os.WriteFile(idsPath, []byte("MMS ID\n"+ids[0]+"\n12345\n"+ids[1]+"\n"+ids[0]+"\n"+ids[2]+"\n"), 0o644))
	out = c.mustCLI(t, tok, "set", "create", "--name", "Picked", "--file", idsPath)
	require.Contains(t, out, "Members:      3")
	require.Contains(t, out, "Problems:     2")
	require.Regexp(t, `(?m)^3\s+12345\s+not found$`, out)
	require.Regexp(t, `(?m)^5\s+`+ids[0]+`\s+duplicate of line 2$`, out)
	itemizedID := strings.Fields(strings.SplitN(out, "\n", 2)[0])[1]

	// members --output ids is an id file set create takes back.
	exported := c.mustCLI(t, tok, "set", "members", itemizedID, "--output", "ids")
	require.Equal(t, "MMS ID\n"+ids[0]+"\n"+ids[1]+"\n"+ids[2]+"\n", exported)
	again := filepath.Join(t.TempDir(), "again.txt")
	require.NoError(t, os.WriteFile(again, []byte(exported), 0o644))
	out = c.mustCLI(t, tok, "set", "create", "--name", "Copy", "--file", again, "--output", "json")
	var cp sets.Set
	require.NoError(t, json.Unmarshal([]byte(out), &cp))
	require.Equal(t, int64(3), *cp.Members)
	require.Zero(t, cp.ProblemCount)

	list := c.mustCLI(t, tok, "set", "list")
	for _, name := range []string{"Jazz", "Picked", "Copy"} {
		require.Contains(t, list, name)
	}

	// Refusals: a query that cannot be parsed, a PO Line file, another
	// institution's set.
	bad := c.cli(t, tok, "set", "create", "--name", "Bad", "--query", `650 $a contains AND suppressed`)
	require.NotEqual(t, 0, bad.code)
	require.Contains(t, bad.stderr, `query: position 17: expected a value after "contains", found "AND"`)
	po := filepath.Join(t.TempDir(), "po.txt")
	require.NoError(t, os.WriteFile(po, []byte("PO Line\nPOL-1\n"), 0o644))
	res := c.cli(t, tok, "set", "create", "--name", "Orders", "--file", po)
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, "no purchase order data")
	other := c.cli(t, c.staffToken(t, "DEMO2"), "set", "show", itemizedID)
	require.NotEqual(t, 0, other.code)
	require.Contains(t, other.stderr, "404")

	require.Equal(t, "set "+itemizedID+" deleted\n", c.mustCLI(t, tok, "set", "delete", itemizedID))
	gone := c.cli(t, tok, "set", "show", itemizedID)
	require.Contains(t, gone.stderr, "not found")
}
