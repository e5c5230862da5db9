//go:build linux

package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/sets"
)

// TestPublishingAndExportThroughTheCLI: with the real binaries, export a
// logical set as MARCXML, list and download its files (checked against
// their SHA-256), refuse another institution, then publish in full and
// incrementally into the profile's directory.
func TestPublishingAndExportThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	pubDir, filesDir := filepath.Join(dir, "publishing"), filepath.Join(dir, "job-files")
	shipped, err := os.ReadFile("../../config/bindery.yaml")
	require.NoError(t, err)
	cfg := strings.NewReplacer("/var/tmp/bindery/publishing/discovery", pubDir, "/var/tmp/bindery/job-files", filesDir,
		"rotate_every: 100000", "rotate_every: 400").Replace(string(shipped))
	require.NotEqual(t, string(shipped), cfg)
	cfgPath := filepath.Join(dir, "bindery.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))

	c := startCluster(t, clusterOpts{workers: 1, config: cfgPath})
	tok := c.staffToken(t, "DEMO")
	file, err := filepath.Abs("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)
	c.mustCLI(t, tok, "job", "run", "metadata-import", "--param", "profile=vendor-bibs", "--file", file, "--wait")

	var set sets.Set
	out := c.mustCLI(t, tok, "set", "create", "--name", "Jazz", "--query", `650 $a contains "Jazz"`, "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &set), out)
	out = c.mustCLI(t, tok, "job", "run", "export-bib-records", "--param", fmt.Sprintf("set=%d", set.ID), "--param", "format=marcxml", "--wait")
	id := parseID(t, out)
	job := c.job(t, tok, id)
	require.Equal(t, jobs.CompletedSuccess, job.Status, job.Message)
	members := job.Counters["records_published"]
	require.Positive(t, members)

	var files []jobs.File
	out = c.mustCLI(t, tok, "job", "files", fmt.Sprint(id), "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(out), &files), out)
	require.Equal(t, "manifest", files[len(files)-1].Kind)
	table := c.mustCLI(t, tok, "job", "files", fmt.Sprint(id))
	require.Contains(t, table, fmt.Sprintf("export_%d_00001.xml", id))
	var read int64
	for _, f := range files[:len(files)-1] {
		dst := filepath.Join(dir, "got-"+f.Name)
		out := c.mustCLI(t, tok, "job", "download", fmt.Sprint(id), f.Name, "--out", dst)
		require.Contains(t, out, f.SHA256)
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		onServer, err := os.ReadFile(filepath.Join(filesDir, f.Name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(onServer, got), f.Name)
		xr := marc.NewXMLReader(bytes.NewReader(got), nil)
		for _, err := xr.Read(); err == nil; _, err = xr.Read() {
			read++
		}
	}
	require.Equal(t, members, read)
	manifest := c.mustCLI(t, tok, "job", "download", fmt.Sprint(id), files[len(files)-1].Name, "--out", "-")
	require.Contains(t, manifest, `"mode": "export"`)

	res := c.cli(t, tok, "job", "download", fmt.Sprint(id), "nosuch.mrc")
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, `has no file "nosuch.mrc"`)
	other := c.staffToken(t, "DEMO2")
	code, body := c.http(t, "GET", fmt.Sprintf("/api/v1/jobs/%d/files/%s", id, files[0].Name), other, nil)
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = c.http(t, "GET", fmt.Sprintf("/api/v1/jobs/%d/files", id), other, nil)
	require.Equal(t, http.StatusNotFound, code, body)

	// General Publishing into the profile's directory: everything, then nothing changed.
	out = c.mustCLI(t, tok, "job", "run", "general-publishing", "--param", "profile=discovery", "--param", "mode=full", "--wait")
	full := c.job(t, tok, parseID(t, out))
	require.Equal(t, jobs.CompletedSuccess, full.Status, full.Message)
	require.Equal(t, int64(1000), full.Counters["records_published"])
	names, err := filepath.Glob(filepath.Join(pubDir, fmt.Sprintf("discovery_%d_*", full.ID)))
	require.NoError(t, err)
	require.Len(t, names, 4, "1,000 records in files of 400, and the manifest: %v", names)
	res = c.cli(t, tok, "job", "run", "general-publishing", "--param", "profile=discovery", "--wait")
	require.Equal(t, jobs.CompletedNoBulks, c.job(t, tok, parseID(t, res.stdout)).Status, res.String())
}
