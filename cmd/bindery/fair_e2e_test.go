//go:build linux

package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/fair"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
)

// peakConfig is the shipped configuration with DEMO always in its peak
// hours (bulk share 0.25), noop jobs in the bulk class and cap leases of 3 s.
func peakConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../config/bindery.yaml")
	require.NoError(t, err)
	s := string(b)
	for _, r := range [][2]string{
		{"    priority_weight: 2\n", "    priority_weight: 2\n    peak:\n      windows: [\"Mon-Sun 00:00-24:00\"]\n      bulk_share: 0.25\n"},
		{"  cap_lease: 15s\n", "  cap_lease: 3s\n"},
		{"    chunk_size: 100\n    priority_class: default\n", "    chunk_size: 100\n    priority_class: bulk\n"},
	} {
		require.Contains(t, s, r[0], "shipped config changed; update peakConfig")
		s = strings.Replace(s, r[0], r[1], 1)
	}
	path := filepath.Join(t.TempDir(), "bindery.yaml")
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
	return path
}

// The peak cap holds across three real worker processes (one Redis
// semaphore), and when a worker holding slots is killed with SIGKILL its
// slots come free by lease expiry: the job still finishes, each record once.
func TestPeakCapAcrossWorkerProcesses(t *testing.T) {
	c := startCluster(t, clusterOpts{workers: 3, concurrency: 4, config: peakConfig(t)})
	staff := c.staffToken(t, "DEMO")
	operator := c.token(t, "--institution", "DEMO", "--role", "operator", "--user", "ops").Token
	ctx := context.Background()
	ropt, err := redis.ParseURL(c.redis.URL)
	require.NoError(t, err)
	rdb := redis.NewClient(ropt)
	t.Cleanup(func() { _ = rdb.Close() })
	sem := fair.NewSemaphore(rdb, 3*time.Second)

	capacity := func() fair.InstitutionCapacity {
		var rep fair.Capacity
		out := c.mustCLI(t, staff, "capacity", "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		require.Len(t, rep.Institutions, 1, "staff see their own institution only")
		return rep.Institutions[0]
	}
	testenv.Eventually(t, 20*time.Second, "12 slots, DEMO in peak with a cap of 3", func() bool {
		ic := capacity()
		return ic.InPeak && ic.BulkCap == 3
	})
	table := c.mustCLI(t, staff, "capacity")
	require.Regexp(t, `DEMO\s+2\s+67%`, table)
	require.Contains(t, table, "yes")

	// 300 chunks of 100 ms.
	id := c.submit(t, staff, "noop", "records=30000", "record_delay_ms=1")
	running := func(exceptWorker string) int {
		var n int
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'queued'
			AND started_at IS NOT NULL AND worker_id IS DISTINCT FROM nullif($2, '')`, id, exceptWorker).Scan(&n))
		return n
	}
	maxRunning, maxHeld := 0, 0
	sample := func(d time.Duration, exceptWorker string, limit int) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			r := running(exceptWorker)
			h, err := sem.Holders(ctx, "DEMO")
			require.NoError(t, err)
			require.LessOrEqual(t, r, limit, "bulk chunks running on live workers")
			require.LessOrEqual(t, h, limit, "cap slots held")
			maxRunning, maxHeld = max(maxRunning, r), max(maxHeld, h)
		}
	}
	testenv.Eventually(t, 20*time.Second, "bulk job running", func() bool { return running("") > 0 })
	sample(3*time.Second, "", 3)
	require.Equal(t, 3, maxRunning, "the three workers together use the cap's 3 slots, no more")

	// Kill a worker that holds a slot. It is frozen (SIGSTOP) first and
	// chosen only if it still holds one then: a running worker may finish
	// its chunk and release its slot between the look and the kill.
	var victim *proc
	var victimID string
	holds := func(wid string) bool {
		holders, err := sem.HolderIDs(ctx, "DEMO")
		require.NoError(t, err)
		for _, h := range holders {
			if strings.HasPrefix(h, wid+"|") {
				return true
			}
		}
		return false
	}
	testenv.Eventually(t, 10*time.Second, "a worker holding a slot", func() bool {
		for _, w := range c.workers {
			var wid string
			if err := c.db.Pool.QueryRow(ctx, `SELECT id FROM workers WHERE pid = $1`, w.cmd.Process.Pid).Scan(&wid); err != nil {
				continue
			}
			if !holds(wid) {
				continue
			}
			_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGSTOP)
			if holds(wid) {
				victim, victimID = w, wid
				return true
			}
			_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGCONT)
		}
		return false
	})
	victim.killGroup(t)
	killed := time.Now()
	held := func() int {
		holders, err := sem.HolderIDs(ctx, "DEMO")
		require.NoError(t, err)
		n := 0
		for _, h := range holders {
			if strings.HasPrefix(h, victimID+"|") {
				n++
			}
		}
		return n
	}
	require.Positive(t, held(), "a killed worker's slots are not freed at once")
	// They are freed by lease expiry (3 s), not leaked: meanwhile the live
	// workers keep within the cap (smaller once the fleet shrinks to 8).
	for held() > 0 {
		require.Less(t, time.Since(killed), 3*time.Second+2*time.Second, "the killed worker's slots outlived their lease")
		sample(100*time.Millisecond, victimID, 3)
	}
	freedAfter := time.Since(killed)
	t.Logf("killed worker's slots freed %s after SIGKILL (lease 3s); max %d running, %d held", freedAfter.Round(10*time.Millisecond), maxRunning, maxHeld)
	sample(2*time.Second, victimID, 3)

	j := c.waitTerminal(t, staff, id, 3*time.Minute)
	require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
	require.EqualValues(t, 30000, j.Counters["records"], "every record once")

	// Priorities: operators only; high runs critical, low bulk.
	small := c.submit(t, staff, "noop", "records=0")
	res := c.cli(t, staff, "job", "priority", strconv.FormatInt(small, 10), "high")
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, "only an operator")
	long := c.submit(t, staff, "noop", "records=100000", "record_delay_ms=1")
	out := c.mustCLI(t, operator, "job", "priority", strconv.FormatInt(long, 10), "high")
	require.Contains(t, out, "priority high (class critical)")
	require.Equal(t, "critical", c.job(t, staff, long).PriorityClass)
	res = c.cli(t, operator, "job", "priority", strconv.FormatInt(long, 10), "urgent")
	require.NotEqual(t, 0, res.code)
	require.Contains(t, res.stderr, `priority "urgent": choose high, normal or low`)
	// Critical work is never capped: well over 3 chunks run at once.
	testenv.Eventually(t, 20*time.Second, "high-priority job uncapped", func() bool {
		var n int
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE job_id = $1 AND status = 'queued'
			AND started_at IS NOT NULL AND queue = 'critical'`, long).Scan(&n))
		return n > 3
	})
	c.mustCLI(t, operator, "job", "abort", strconv.FormatInt(long, 10))
}
