//go:build linux

package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/sets"
	"github.com/bindery/bindery/pkg/testenv"
)

// publishingConfig writes the shipped configuration with the publishing
// and job files directories under dir and files of rotate records.
func publishingConfig(t *testing.T, dir string, rotate int) (path, pubDir, filesDir string) {
	t.Helper()
	pubDir, filesDir = filepath.Join(dir, "publishing"), filepath.Join(dir, "job-files")
	shipped, err := os.ReadFile("../../config/bindery.yaml")
	require.NoError(t, err)
	cfg := strings.NewReplacer("/var/tmp/bindery/publishing/discovery", pubDir, "/var/tmp/bindery/job-files", filesDir,
		"rotate_every: 100000", fmt.Sprintf("rotate_every: %d", rotate)).Replace(string(shipped))
	require.NotEqual(t, string(shipped), cfg)
	path = filepath.Join(dir, "bindery.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path, pubDir, filesDir
}

// TestPublishingAndExportThroughTheCLI: with the real binaries, export a
// logical set as MARCXML, list and download its files (checked against
// their SHA-256), refuse another institution, then publish in full and
// incrementally into the profile's directory.
func TestPublishingAndExportThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	cfgPath, pubDir, filesDir := publishingConfig(t, dir, 400)

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

// TestPublishingWorkerKilled: kill -9 the worker while publishing chunks
// have written their files and wait, inside their transactions, to register
// them; a replacement worker redoes them under new fences. The run ends
// COMPLETED_SUCCESS with every record published once and no temporary file
// left behind.
func TestPublishingWorkerKilled(t *testing.T) {
	const records = 20000
	cfgPath, pubDir, _ := publishingConfig(t, t.TempDir(), 2000)
	c := startCluster(t, clusterOpts{workers: 1, config: cfgPath})
	tok := c.staffToken(t, "DEMO")
	ctx := context.Background()

	// The catalog: generated records written straight into it.
	templates, err := seed.LoadTemplates("../../"+seed.MARCSources[0], "../../"+seed.MARCSources[1], "../../"+seed.MARCSources[2])
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = seed.WriteMARC(&buf, templates, records)
	require.NoError(t, err)
	recs := bytes.SplitAfter(buf.Bytes(), []byte{0x1D})
	recs = recs[:len(recs)-1]
	require.Len(t, recs, records)
	_, err = c.db.Pool.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"institution", "record_type", "marc"},
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) { return []any{"DEMO", "bib", recs[i]}, nil }))
	require.NoError(t, err)

	// Fault injection: a SHARE lock on job_files lets chunks write their
	// files but holds each at its registration, inside its transaction.
	lockTx, err := c.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer lockTx.Rollback(ctx) //nolint:errcheck
	_, err = lockTx.Exec(ctx, `LOCK TABLE job_files IN SHARE MODE`)
	require.NoError(t, err)
	id := parseID(t, c.mustCLI(t, tok, "job", "run", "general-publishing", "--param", "profile=discovery", "--param", "mode=full"))
	testenv.Eventually(t, 30*time.Second, "a chunk to wait at its registration", func() bool {
		var waiting int
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%INSERT INTO job_files%'`).Scan(&waiting))
		return waiting > 0
	})
	tmps, err := filepath.Glob(filepath.Join(pubDir, ".*.tmp"))
	require.NoError(t, err)
	require.NotEmpty(t, tmps, "the waiting chunks wrote their files")
	victim := c.workers[0]
	victim.killGroup(t)
	require.Equal(t, -1, victim.exitCode(), "the worker died of the signal")
	require.NoError(t, lockTx.Rollback(ctx))
	c.startWorker(t)

	j := c.waitTerminal(t, tok, id, 90*time.Second)
	require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
	require.Equal(t, int64(records), j.Counters["records_published"])
	var maxFence int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT max(fence) FROM chunks WHERE job_id = $1`, id).Scan(&maxFence))
	require.Greater(t, maxFence, int64(1), "the killed worker's chunks were re-admitted")

	left, err := filepath.Glob(filepath.Join(pubDir, ".*"))
	require.NoError(t, err)
	require.Empty(t, left, "the dead worker's temporary files are removed")
	names, err := filepath.Glob(filepath.Join(pubDir, fmt.Sprintf("discovery_%d_*.mrc", id)))
	require.NoError(t, err)
	require.Len(t, names, records/2000)
	seen := map[string]bool{}
	for _, name := range names {
		f, err := os.Open(name)
		require.NoError(t, err)
		br, err := marc.NewBinaryReader(f, nil)
		require.NoError(t, err)
		for {
			rec, err := br.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			require.False(t, seen[rec.ControlNumber()], "record %s published twice", rec.ControlNumber())
			seen[rec.ControlNumber()] = true
		}
		f.Close()
	}
	require.Len(t, seen, records)
}
