//go:build linux

// End-to-end tests through the real binary: TestMain builds bindery once;
// each test starts its own cluster (a fresh PostgreSQL database, a throwaway
// redis-server, one `bindery server` and two `bindery worker` processes) and
// drives it only through the CLI, raw HTTP and SQL reads of the system of
// record. Every process is started in its own process group with a parent-
// death signal and killed at cleanup, so none outlives the test (even when
// the test binary itself dies).
//
// Linux only: Pdeathsig is what keeps a crashed or timed-out test binary
// from leaving servers and workers behind.
package main_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/seed"
	"github.com/bindery/bindery/pkg/testenv"
)

// binPath is the bindery binary TestMain built for this run.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bindery-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "bindery")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/bindery:", err)
		return 1
	}
	return m.Run()
}

// ---------------------------------------------------------------------------
// Processes

// proc is one long-running bindery process (server, worker, or a CLI command
// followed in the background).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string // stderr
	outPath string // stdout
	done    chan struct{}
	waitErr error
}

func sysProcAttr() *syscall.SysProcAttr {
	// Own process group: cleanup kills the whole group. Pdeathsig: the
	// kernel kills the child if the test binary dies without cleanup.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the exit status of an exited process (-1: killed by a signal).
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// killGroup SIGKILLs the process group and reaps the process.
func (p *proc) killGroup(t testing.TB) {
	t.Helper()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s (pid %d) survived SIGKILL for 10 s", p.name, p.cmd.Process.Pid)
	}
}

// waitExit waits for the process to exit on its own and returns its status.
func (p *proc) waitExit(t testing.TB, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(within):
		t.Fatalf("%s (pid %d) did not exit within %s\n%s", p.name, p.cmd.Process.Pid, within, tail(p.logPath))
		return 0, 0
	}
}

func (p *proc) stdout() string {
	b, _ := os.ReadFile(p.outPath)
	return string(b)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 6000
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// Cluster

type clusterOpts struct {
	workers     int // default 2
	concurrency int // per worker; default 4
	// demoRules, if set, is YAML for the DEMO institution's job_rules (the
	// shipped configuration otherwise).
	demoRules string
	config    string // configuration file; default the shipped one
}

// cluster is one test's Bindery: database, Redis, server and workers.
type cluster struct {
	db      *testenv.Database
	redis   *testenv.Redis
	addr    string
	baseURL string
	config  string
	dir     string
	server  *proc
	workers []*proc
	procs   []*proc
	opts    clusterOpts
}

func startCluster(t *testing.T, opts clusterOpts) *cluster {
	t.Helper()
	if opts.workers == 0 {
		opts.workers = 2
	}
	if opts.concurrency == 0 {
		opts.concurrency = 4
	}
	config, err := filepath.Abs("../../config/bindery.yaml")
	require.NoError(t, err)
	if opts.config != "" {
		config = opts.config
	}
	c := &cluster{
		db:     testenv.NewDatabase(t),
		redis:  testenv.NewRedis(t),
		config: config,
		dir:    t.TempDir(),
		opts:   opts,
	}
	if opts.demoRules != "" {
		shipped, err := os.ReadFile(config)
		require.NoError(t, err)
		const after = "    loan_retention_days: 90\n"
		require.Contains(t, string(shipped), after)
		custom := strings.Replace(string(shipped), after, after+"    job_rules:\n"+opts.demoRules, 1)
		c.config = filepath.Join(c.dir, "bindery.yaml")
		require.NoError(t, os.WriteFile(c.config, []byte(custom), 0o600))
	}
	c.addr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	c.baseURL = "http://" + c.addr
	// Registered before any process: runs after they are all killed
	// (cleanups run last-in first-out), before the log dir is removed.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range c.procs {
			t.Logf("---- %s (pid %d) log:\n%s", p.name, p.cmd.Process.Pid, tail(p.logPath))
		}
	})

	c.server = c.start(t, "server", "server")
	testenv.Eventually(t, 20*time.Second, "server /readyz", func() bool {
		if c.server.exited() {
			t.Fatalf("server exited early:\n%s", tail(c.server.logPath))
		}
		code, _ := c.http(t, "GET", "/readyz", "", nil)
		return code == http.StatusOK
	})
	for range opts.workers {
		c.startWorker(t)
	}
	return c
}

// env is the environment of every bindery process: nothing BINDERY_* leaks
// in from the developer's shell.
func (c *cluster) env(token string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BINDERY_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"BINDERY_DATABASE_URL="+c.db.URL,
		"BINDERY_REDIS_URL="+c.redis.URL,
		"BINDERY_ADDR="+c.addr,
		"BINDERY_SERVER="+c.baseURL,
		"BINDERY_CONFIG="+c.config,
		"BINDERY_TOKEN="+token,
	)
}

// start runs a long-lived bindery process and kills its group at cleanup.
func (c *cluster) start(t *testing.T, name string, args ...string) *proc {
	return c.startWithToken(t, name, "", args...)
}

func (c *cluster) startWithToken(t *testing.T, name, token string, args ...string) *proc {
	t.Helper()
	p := &proc{
		name:    name,
		logPath: filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", name, len(c.procs))),
		outPath: filepath.Join(c.dir, fmt.Sprintf("%s-%d.out", name, len(c.procs))),
		done:    make(chan struct{}),
	}
	logf, err := os.Create(p.logPath)
	require.NoError(t, err)
	outf, err := os.Create(p.outPath)
	require.NoError(t, err)
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = c.env(token)
	p.cmd.Stdout, p.cmd.Stderr = outf, logf
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		outf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logf.Close()
		outf.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	t.Cleanup(func() { p.killGroup(t) })
	return p
}

// startWorker starts a worker and waits until it has registered its first
// heartbeat (its asynq server starts right after).
func (c *cluster) startWorker(t *testing.T) *proc {
	t.Helper()
	w := c.start(t, fmt.Sprintf("worker%d", len(c.workers)+1), "worker", "--concurrency", strconv.Itoa(c.opts.concurrency))
	c.workers = append(c.workers, w)
	testenv.Eventually(t, 20*time.Second, w.name+" heartbeat", func() bool {
		if w.exited() {
			t.Fatalf("%s exited early:\n%s", w.name, tail(w.logPath))
		}
		var n int
		err := c.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM workers WHERE pid = $1`, w.cmd.Process.Pid).Scan(&n)
		require.NoError(t, err)
		return n == 1
	})
	return w
}

// cliResult is one CLI invocation's outcome.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// cli runs `bindery args...` with BINDERY_TOKEN=token and returns its result.
func (c *cluster) cli(t testing.TB, token string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = c.env(token)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bindery %s: timed out\n%s", strings.Join(args, " "), errb.String())
	}
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("bindery %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// mustCLI runs a command that must exit 0 and returns its stdout.
func (c *cluster) mustCLI(t testing.TB, token string, args ...string) string {
	t.Helper()
	res := c.cli(t, token, args...)
	require.Equal(t, 0, res.code, "bindery %s\n%s", strings.Join(args, " "), res)
	return res.stdout
}

type issuedToken struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// token issues a token through `bindery token create --json`.
func (c *cluster) token(t testing.TB, args ...string) issuedToken {
	t.Helper()
	out := c.mustCLI(t, "", append([]string{"token", "create", "--json"}, args...)...)
	var tok issuedToken
	require.NoError(t, json.Unmarshal([]byte(out), &tok), out)
	require.NotEmpty(t, tok.Token)
	return tok
}

func (c *cluster) staffToken(t testing.TB, institution string) string {
	return c.token(t, "--institution", institution, "--role", "staff", "--user", "staff-"+strings.ToLower(institution)).Token
}

// http sends a raw request with a bearer token (if any) and returns status
// and body.
func (c *cluster) http(t testing.TB, method, path, token string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.baseURL+path, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(t, req)
}

func (c *cluster) do(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// job reads a job through the API (cheap enough to poll).
func (c *cluster) job(t testing.TB, token string, id int64) *jobs.Job {
	t.Helper()
	code, body := c.http(t, "GET", fmt.Sprintf("/api/v1/jobs/%d", id), token, nil)
	require.Equal(t, http.StatusOK, code, body)
	var j jobs.Job
	require.NoError(t, json.Unmarshal([]byte(body), &j))
	return &j
}

// showCLI reads a job through `bindery job show ID --output json`.
func (c *cluster) showCLI(t testing.TB, token string, id int64) *jobs.Job {
	t.Helper()
	out := c.mustCLI(t, token, "job", "show", strconv.FormatInt(id, 10), "--output", "json")
	var j jobs.Job
	require.NoError(t, json.Unmarshal([]byte(out), &j), out)
	return &j
}

// submit runs `bindery job run TYPE --param ...` (no wait) and returns the id.
func (c *cluster) submit(t testing.TB, token, jobType string, params ...string) int64 {
	t.Helper()
	args := []string{"job", "run", jobType}
	for _, p := range params {
		args = append(args, "--param", p)
	}
	return parseID(t, c.mustCLI(t, token, args...))
}

func parseID(t testing.TB, stdout string) int64 {
	t.Helper()
	line, _, _ := strings.Cut(stdout, "\n")
	id, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	require.NoError(t, err, "job id expected on stdout, got %q", stdout)
	return id
}

// waitTerminal polls the job until it reaches a terminal status.
func (c *cluster) waitTerminal(t testing.TB, token string, id int64, within time.Duration) *jobs.Job {
	t.Helper()
	var j *jobs.Job
	testenv.Eventually(t, within, fmt.Sprintf("job %d to end", id), func() bool {
		j = c.job(t, token, id)
		return j.Status.Terminal()
	})
	return j
}

// waitDoneChunks polls until at least n chunks of the job are committed.
func (c *cluster) waitDoneChunks(t testing.TB, token string, id int64, n int) *jobs.Job {
	t.Helper()
	var j *jobs.Job
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d chunks of job %d done", n, id), func() bool {
		j = c.job(t, token, id)
		require.False(t, j.Status.Terminal(), "job %d ended %s before the test could act mid-run", id, j.Status)
		return j.Progress != nil && j.Progress.DoneChunks >= n
	})
	return j
}

// report reads `bindery job report ID --output csv` into rows (header checked
// and dropped).
func (c *cluster) report(t testing.TB, token string, id int64) [][]string {
	t.Helper()
	out := c.mustCLI(t, token, "job", "report", strconv.FormatInt(id, 10), "--output", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows, "report has no header")
	require.Equal(t, []string{"record_id", "outcome", "message"}, rows[0])
	return rows[1:]
}

func eventStatuses(j *jobs.Job) []jobs.Status {
	var out []jobs.Status
	for _, e := range j.Events {
		out = append(out, e.Status)
	}
	return out
}

// dbNow is the database clock, the clock admitted_at is written with.
func (c *cluster) dbNow(t testing.TB) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, c.db.Pool.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now))
	return now
}

// population returns the ids of an institution's loans still linked to a
// patron: Loan Anonymization's population.
func (c *cluster) population(t testing.TB, institution string) []int64 {
	t.Helper()
	rows, err := c.db.Pool.Query(context.Background(),
		`SELECT id FROM loans WHERE institution = $1 AND user_id IS NOT NULL ORDER BY id`, institution)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return ids
}

// requireReportCoversOnce checks the report names every id of want exactly
// once and nothing else, and returns the outcome counts.
func requireReportCoversOnce(t testing.TB, rows [][]string, want []int64) map[string]int {
	t.Helper()
	seen := make(map[string]int, len(rows))
	outcomes := map[string]int{}
	for _, r := range rows {
		seen[r[0]]++
		outcomes[r[1]]++
	}
	var dup []string
	for id, n := range seen {
		if n != 1 {
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	slices.Sort(dup)
	require.Empty(t, dup, "report rows per record id must be exactly one")
	var missing []int64
	for _, id := range want {
		if seen[strconv.FormatInt(id, 10)] != 1 {
			missing = append(missing, id)
		}
	}
	require.Empty(t, missing, "records missing from the report")
	require.Len(t, rows, len(want))
	return outcomes
}

// ---------------------------------------------------------------------------
// 1. Loan Anonymization end to end

type loanSnapshot struct {
	itemID            int64
	loanDate, dueDate time.Time
	returnDate        *time.Time
	patronCategory    string
}

func TestLoanAnonymization(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	out := c.mustCLI(t, "", "seed", "demo", "--loans", "20000", "--reset")
	require.Contains(t, out, "DEMO: 20000 loans added")
	tok := c.staffToken(t, "DEMO")

	ctx := context.Background()
	population := c.population(t, "DEMO")
	require.Len(t, population, 20000)
	before := map[int64]loanSnapshot{}
	rows, err := c.db.Pool.Query(ctx, `SELECT l.id, l.item_id, l.loan_date, l.due_date, l.return_date, u.stat_category
		FROM loans l JOIN users u ON u.id = l.user_id WHERE l.institution = 'DEMO'`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var s loanSnapshot
		require.NoError(t, rows.Scan(&id, &s.itemID, &s.loanDate, &s.dueDate, &s.returnDate, &s.patronCategory))
		before[id] = s
	}
	require.NoError(t, rows.Err())
	require.Len(t, before, 20000)

	res := c.cli(t, tok, "job", "run", "loan-anonymization", "--wait")
	require.Equal(t, 0, res.code, res.String())
	require.Regexp(t, `^\d+\n$`, res.stdout, "stdout of job run is the job id alone")
	id := parseID(t, res.stdout)

	job := c.showCLI(t, tok, id)
	require.Equal(t, jobs.CompletedSuccess, job.Status, job.Message)
	require.Equal(t, "DEMO", job.Institution)
	require.Equal(t, map[string]int64{
		"loans_examined":           20000,
		"loans_anonymized":         14000,
		"skipped_still_open":       3000,
		"skipped_within_retention": 3000,
	}, job.Counters)
	require.Equal(t, []jobs.Status{jobs.Queued, jobs.Initializing, jobs.Running, jobs.Finalizing, jobs.CompletedSuccess},
		eventStatuses(job))
	require.EqualValues(t, 20000, job.TotalRecords)
	require.EqualValues(t, 20000, job.Progress.DoneRecords)

	outcomes := requireReportCoversOnce(t, c.report(t, tok, id), population)
	require.Equal(t, map[string]int{"success": 14000, "skipped": 6000}, outcomes)

	// The system of record: nothing due is still linked to a patron, and
	// every anonymized loan kept its item, dates and statistics category.
	retention, ok := job.Params["retention_days"].(float64)
	require.True(t, ok, "retention_days param: %v", job.Params)
	require.EqualValues(t, 90, retention, "DEMO's loan_retention_days is the default")
	var linkedDue int
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM loans
		WHERE institution = 'DEMO' AND return_date < $1::timestamptz - make_interval(days => $2) AND user_id IS NOT NULL`,
		job.SubmittedAt, int(retention)).Scan(&linkedDue))
	require.Zero(t, linkedDue, "DEMO loans returned before the cutoff still linked to a patron")

	rows, err = c.db.Pool.Query(ctx, `SELECT id, item_id, loan_date, due_date, return_date, user_id, stat_category, anonymized_at
		FROM loans WHERE institution = 'DEMO'`)
	require.NoError(t, err)
	anonymized := 0
	for rows.Next() {
		var id, itemID int64
		var loanDate, dueDate time.Time
		var returnDate, anonymizedAt *time.Time
		var userID *int64
		var cat string
		require.NoError(t, rows.Scan(&id, &itemID, &loanDate, &dueDate, &returnDate, &userID, &cat, &anonymizedAt))
		was, ok := before[id]
		require.True(t, ok, "loan %d appeared during the job", id)
		require.Equal(t, was.itemID, itemID, "loan %d item", id)
		require.True(t, was.loanDate.Equal(loanDate) && was.dueDate.Equal(dueDate), "loan %d dates changed", id)
		require.Equal(t, was.returnDate == nil, returnDate == nil, "loan %d return date", id)
		if returnDate != nil {
			require.True(t, was.returnDate.Equal(*returnDate), "loan %d return date changed", id)
		}
		if anonymizedAt == nil {
			require.NotNil(t, userID, "loan %d lost its patron without being anonymized", id)
			continue
		}
		anonymized++
		require.Nil(t, userID, "anonymized loan %d still linked", id)
		require.NotEmpty(t, cat, "anonymized loan %d has no stat_category", id)
		require.Equal(t, was.patronCategory, cat, "anonymized loan %d keeps its patron's category", id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 14000, anonymized)

	t.Run("warnings still exit 0", func(t *testing.T) {
		res := c.cli(t, tok, "job", "run", "noop", "--param", "records=1000", "--param", "fail_every=7", "--wait")
		require.Equal(t, 0, res.code, res.String())
		id := parseID(t, res.stdout)
		job := c.showCLI(t, tok, id)
		require.Equal(t, jobs.CompletedWarning, job.Status)
		require.Contains(t, job.Message, "142 records reported a warning or an error")
		require.Equal(t, map[string]int64{"records": 1000, "errors": 142}, job.Counters)
		rows := c.report(t, tok, id)
		require.Len(t, rows, 142)
		for _, r := range rows {
			n, err := strconv.Atoi(r[0])
			require.NoError(t, err)
			require.Zero(t, n%7, r)
			require.Equal(t, "error", r[1])
		}
	})
	// The exit-1 case of `job run --wait` (an aborted job) is in TestAbort.
}

// ---------------------------------------------------------------------------
// 2. kill -9 of a worker in the middle of a chunk

func TestWorkerKilledMidChunk(t *testing.T) {
	// Concurrency 1: the killed worker holds exactly the chunk we pin, and
	// no task it has taken from Redis but not yet started in the ledger.
	c := startCluster(t, clusterOpts{concurrency: 1})
	const loans = 200000
	c.mustCLI(t, "", "seed", "demo", "--institution", "DEMO2", "--loans", strconv.Itoa(loans), "--reset")
	tok := c.staffToken(t, "DEMO2")
	population := c.population(t, "DEMO2")
	require.Len(t, population, loans)

	// Fault injection: hold a row lock on one loan in the middle of the
	// population, so the chunk holding it stays in flight (started, inside
	// its transaction) until the worker running it is killed.
	ctx := context.Background()
	pinned := population[len(population)/4+7]
	lockTx, err := c.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer lockTx.Rollback(ctx) //nolint:errcheck
	_, err = lockTx.Exec(ctx, `SELECT 1 FROM loans WHERE id = $1 FOR UPDATE`, pinned)
	require.NoError(t, err)

	id := c.submit(t, tok, "loan-anonymization")

	var seq int
	var fence int64
	var workerID string
	var pid int
	testenv.Eventually(t, 30*time.Second, "the pinned chunk to be started by a worker and wait on the lock", func() bool {
		err := c.db.Pool.QueryRow(ctx, `SELECT c.seq, c.fence, c.worker_id, w.pid FROM chunks c JOIN workers w ON w.id = c.worker_id
			WHERE c.job_id = $1 AND $2 BETWEEN c.lo_key AND c.hi_key AND c.status = 'queued' AND c.worker_id IS NOT NULL`,
			id, pinned).Scan(&seq, &fence, &workerID, &pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return false
		}
		require.NoError(t, err)
		var waiting int
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM loans%FOR UPDATE%'`).Scan(&waiting))
		return waiting > 0
	})
	var victim *proc
	for _, w := range c.workers {
		if w.cmd.Process.Pid == pid {
			victim = w
		}
	}
	require.NotNil(t, victim, "chunk %d started by worker %s (pid %d), not one of ours", seq, workerID, pid)
	t.Logf("chunk %d (fence %d) in flight on %s (pid %d): SIGKILL", seq, fence, victim.name, pid)

	killedAt := c.dbNow(t) // taken just before the kill: the measure errs long
	victim.killGroup(t)
	require.Equal(t, -1, victim.exitCode(), "the worker died of the signal")
	require.NoError(t, lockTx.Rollback(ctx))
	c.startWorker(t) // a replacement; the surviving worker carries on too

	var readmittedAt time.Time
	var newFence int64
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("chunk %d to be re-admitted", seq), func() bool {
		var at *time.Time
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT fence, admitted_at FROM chunks WHERE job_id = $1 AND seq = $2`,
			id, seq).Scan(&newFence, &at))
		if newFence > fence {
			readmittedAt = *at
			return true
		}
		return false
	})
	delay := readmittedAt.Sub(killedAt)
	t.Logf("chunk %d re-admitted under fence %d, %s after the kill", seq, newFence, delay.Round(time.Millisecond))
	require.Less(t, delay, 10*time.Second, "re-admission after a worker's death")
	require.Positive(t, delay)

	job := c.waitTerminal(t, tok, id, 60*time.Second)
	require.Equal(t, jobs.CompletedSuccess, job.Status, job.Message)
	job = c.showCLI(t, tok, id)
	require.Equal(t, map[string]int64{
		"loans_examined":           loans,
		"loans_anonymized":         loans / 20 * 14,
		"skipped_still_open":       loans / 20 * 3,
		"skipped_within_retention": loans / 20 * 3,
	}, job.Counters)

	var status, doneBy string
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT status, worker_id FROM chunks WHERE job_id = $1 AND seq = $2`,
		id, seq).Scan(&status, &doneBy))
	require.Equal(t, "done", status)
	require.NotEqual(t, workerID, doneBy, "the killed worker cannot have committed")
	var maxFence int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT max(fence) FROM chunks WHERE job_id = $1`, id).Scan(&maxFence))
	require.Greater(t, maxFence, int64(1))

	// Every loan examined once, every eligible loan anonymized once.
	outcomes := requireReportCoversOnce(t, c.report(t, tok, id), population)
	require.Equal(t, map[string]int{"success": loans / 20 * 14, "skipped": loans / 20 * 6}, outcomes)
	var anonymized, linkedDue, badCategory int
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE anonymized_at IS NOT NULL AND user_id IS NULL),
			count(*) FILTER (WHERE return_date < $1::timestamptz - interval '30 days' AND user_id IS NOT NULL),
			count(*) FILTER (WHERE anonymized_at IS NOT NULL AND stat_category = '')
		FROM loans WHERE institution = 'DEMO2'`, job.SubmittedAt).Scan(&anonymized, &linkedDue, &badCategory))
	require.Equal(t, loans/20*14, anonymized)
	require.Zero(t, linkedDue)
	require.Zero(t, badCategory)
}

// ---------------------------------------------------------------------------
// 3. Isolation between institutions, authentication, network monitoring,
// validation

func TestIsolationAndAuth(t *testing.T) {
	c := startCluster(t, clusterOpts{workers: 1})
	demo := c.staffToken(t, "DEMO")
	demo2 := c.staffToken(t, "DEMO2")
	operator := c.token(t, "--institution", "DEMO", "--role", "operator", "--user", "ops").Token
	netmon := c.token(t, "--network", "DEMO-NET", "--role", "network-monitor", "--user", "nz").Token

	demoJob := parseID(t, c.mustCLI(t, demo, "job", "run", "noop", "--param", "records=100", "--wait"))
	demo2Job := parseID(t, c.mustCLI(t, demo2, "job", "run", "noop", "--param", "records=300", "--param", "fail_every=50", "--wait"))
	demo2ID := strconv.FormatInt(demo2Job, 10)

	listIDs := func(t *testing.T, token string, args ...string) []int64 {
		t.Helper()
		out := c.mustCLI(t, token, append([]string{"job", "list", "--output", "json"}, args...)...)
		var list []jobs.Job
		require.NoError(t, json.Unmarshal([]byte(out), &list), out)
		var ids []int64
		for _, j := range list {
			ids = append(ids, j.ID)
		}
		return ids
	}

	t.Run("staff see only their institution", func(t *testing.T) {
		require.Equal(t, []int64{demoJob}, listIDs(t, demo))
		require.Equal(t, []int64{demo2Job}, listIDs(t, demo2))
		require.Empty(t, listIDs(t, demo, "--institution", "DEMO2"), "asking for another institution lists nothing")

		for _, args := range [][]string{
			{"job", "show", demo2ID},
			{"job", "abort", demo2ID},
			{"job", "report", demo2ID},
			{"job", "report", demo2ID, "--output", "csv"},
			{"job", "watch", demo2ID},
		} {
			res := c.cli(t, demo, args...)
			require.NotEqual(t, 0, res.code, "%v\n%s", args, res)
			require.Contains(t, res.stderr, "404", "%v", args)
			require.Contains(t, res.stderr, fmt.Sprintf("job %d not found", demo2Job), "%v", args)
			require.NotContains(t, res.stdout, "DEMO2")
		}
		for _, r := range []struct{ method, path string }{
			{"GET", "/api/v1/jobs/" + demo2ID},
			{"POST", "/api/v1/jobs/" + demo2ID + "/abort"},
			{"GET", "/api/v1/jobs/" + demo2ID + "/report"},
			{"GET", "/api/v1/jobs/" + demo2ID + "/report?format=csv"},
		} {
			code, body := c.http(t, r.method, r.path, demo, nil)
			require.Equal(t, http.StatusNotFound, code, "%s %s: %s", r.method, r.path, body)
			require.NotContains(t, body, "DEMO2")
		}
		// Same answer as for a job that does not exist at all.
		code, body := c.http(t, "GET", "/api/v1/jobs/99999", demo, nil)
		require.Equal(t, http.StatusNotFound, code, body)

		job := c.job(t, demo2, demo2Job)
		require.Equal(t, jobs.CompletedWarning, job.Status, "the refused abort changed nothing")
		require.Len(t, c.report(t, demo2, demo2Job), 6, "its owner reads the report")
	})

	t.Run("authentication", func(t *testing.T) {
		for name, token := range map[string]string{"no token": "", "bad token": "bdy_not-a-token", "no prefix": "hunter2"} {
			code, body := c.http(t, "GET", "/api/v1/jobs", token, nil)
			require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
			code, body = c.http(t, "GET", "/api/v1/jobs/"+demo2ID, token, nil)
			require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
		}
		res := c.cli(t, "", "job", "list")
		require.NotEqual(t, 0, res.code, res.String())
		require.Contains(t, res.stderr, "no API token")
		res = c.cli(t, "bdy_not-a-token", "job", "list")
		require.NotEqual(t, 0, res.code, res.String())
		require.Contains(t, res.stderr, "401")

		tok := c.token(t, "--institution", "DEMO", "--role", "staff", "--user", "leaver")
		code, body := c.http(t, "GET", "/api/v1/jobs", tok.Token, nil)
		require.Equal(t, http.StatusOK, code, body)
		require.Contains(t, c.mustCLI(t, "", "token", "revoke", strconv.FormatInt(tok.ID, 10)), "revoked")
		code, body = c.http(t, "GET", "/api/v1/jobs", tok.Token, nil)
		require.Equal(t, http.StatusUnauthorized, code, body)
		res = c.cli(t, tok.Token, "job", "show", strconv.FormatInt(demoJob, 10))
		require.NotEqual(t, 0, res.code, res.String())
		require.Contains(t, res.stderr, "401")
		res = c.cli(t, "", "token", "revoke", strconv.FormatInt(tok.ID, 10))
		require.NotEqual(t, 0, res.code, "revoking twice: %s", res)
	})

	t.Run("monitoring dashboard", func(t *testing.T) {
		code, _ := c.http(t, "GET", "/monitoring/", "", nil)
		require.Equal(t, http.StatusUnauthorized, code)
		code, _ = c.http(t, "GET", "/monitoring/", demo, nil)
		require.Equal(t, http.StatusUnauthorized, code, "staff may not see the queues")
		code, body := c.http(t, "GET", "/monitoring/", operator, nil)
		require.Equal(t, http.StatusOK, code, body)
		code, _ = c.http(t, "GET", "/monitoring/", netmon, nil)
		require.Equal(t, http.StatusOK, code, "network monitors look, read-only")

		// Browsers: Basic auth with the token as password, after a challenge.
		req, err := http.NewRequest("GET", c.baseURL+"/monitoring/", nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
		req.SetBasicAuth("anyone", operator)
		code, _ = c.do(t, req)
		require.Equal(t, http.StatusOK, code)
		req.SetBasicAuth("anyone", demo)
		code, _ = c.do(t, req)
		require.Equal(t, http.StatusUnauthorized, code)
	})

	t.Run("network monitor", func(t *testing.T) {
		require.ElementsMatch(t, []int64{demoJob, demo2Job}, listIDs(t, netmon))
		require.Equal(t, []int64{demo2Job}, listIDs(t, netmon, "--institution", "DEMO2"))
		require.Equal(t, []int64{demoJob}, listIDs(t, netmon, "--institution", "DEMO"))
		require.Equal(t, demo2Job, c.showCLI(t, netmon, demo2Job).ID)
		require.Len(t, c.report(t, netmon, demo2Job), 6)

		res := c.cli(t, netmon, "job", "run", "noop", "--param", "records=10")
		require.NotEqual(t, 0, res.code, res.String())
		require.Contains(t, res.stderr, "403")
		res = c.cli(t, netmon, "job", "abort", demo2ID)
		require.NotEqual(t, 0, res.code, res.String())
		require.Contains(t, res.stderr, "403")

		code, body := c.http(t, "POST", "/api/v1/jobs", netmon, strings.NewReader(`{"type":"noop","params":{"records":"10"}}`))
		require.Equal(t, http.StatusForbidden, code, body)
		code, body = c.http(t, "POST", "/api/v1/jobs/"+demo2ID+"/abort", netmon, nil)
		require.Equal(t, http.StatusForbidden, code, body)
		require.Equal(t, []int64{demoJob}, listIDs(t, demo), "no job was created")
	})

	t.Run("validation", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			args   []string
			body   string
			naming string
		}{
			{"unknown job type", []string{"no-such-job"}, `{"type":"no-such-job"}`, `unknown job type "no-such-job"`},
			{"not a number", []string{"noop", "--param", "records=lots"}, `{"type":"noop","params":{"records":"lots"}}`, `parameter "records": "lots" is not a whole number`},
			{"below minimum", []string{"noop", "--param", "records=-5"}, `{"type":"noop","params":{"records":"-5"}}`, `parameter "records": -5 is below the minimum 0`},
			{"unknown parameter", []string{"noop", "--param", "recrods=5"}, `{"type":"noop","params":{"recrods":"5"}}`, `parameter "recrods": unknown parameter`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := c.cli(t, demo, append([]string{"job", "run"}, tc.args...)...)
				require.NotEqual(t, 0, res.code, res.String())
				require.Contains(t, res.stderr, "400")
				require.Contains(t, res.stderr, tc.naming)
				require.Empty(t, res.stdout)

				code, body := c.http(t, "POST", "/api/v1/jobs", demo, strings.NewReader(tc.body))
				require.Equal(t, http.StatusBadRequest, code, body)
				var eb struct{ Error string }
				require.NoError(t, json.Unmarshal([]byte(body), &eb), body)
				require.Contains(t, eb.Error, tc.naming)
			})
		}
		require.Equal(t, []int64{demoJob}, listIDs(t, demo), "no job was created")
	})
}

// ---------------------------------------------------------------------------
// 4. Abort

// redisTasksOf lists the ids of the job's tasks that Redis holds in the
// given states (default: every live state: pending, active, scheduled, retry).
func (c *cluster) redisTasksOf(t testing.TB, jobID int64, queue string, states ...string) []string {
	t.Helper()
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: c.redis.Addr, DB: c.redis.DB})
	defer insp.Close()
	if len(states) == 0 {
		states = []string{"pending", "active", "scheduled", "retry"}
	}
	lists := map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		"pending": insp.ListPendingTasks, "active": insp.ListActiveTasks,
		"scheduled": insp.ListScheduledTasks, "retry": insp.ListRetryTasks,
	}
	prefix := fmt.Sprintf("job:%d:", jobID)
	var ids []string
	for _, st := range states {
		tasks, err := lists[st](queue, asynq.PageSize(10000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		require.NoError(t, err)
		for _, ti := range tasks {
			if strings.HasPrefix(ti.ID, prefix) {
				ids = append(ids, ti.ID+"("+ti.State.String()+")")
			}
		}
	}
	return ids
}

func TestAbort(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	tok := c.staffToken(t, "DEMO")

	// `job run --wait`, followed in the background: it must exit 1 when the
	// job it follows is aborted.
	run := c.startWithToken(t, "job-run-wait", tok, "job", "run", "noop",
		"--param", "records=100000", "--param", "record_delay_ms=1", "--param", "fail_every=10", "--wait")
	var id int64
	testenv.Eventually(t, 20*time.Second, "job run to print the job id", func() bool {
		if run.exited() {
			t.Fatalf("job run exited early: %d\n%s", run.exitCode(), tail(run.logPath))
		}
		return strings.Contains(run.stdout(), "\n")
	})
	id = parseID(t, run.stdout())
	c.waitDoneChunks(t, tok, id, 3)

	out := c.mustCLI(t, tok, "job", "abort", strconv.FormatInt(id, 10))
	require.Contains(t, out, fmt.Sprintf("job %d USER_ABORTED", id))
	atAbort := c.job(t, tok, id)
	require.Equal(t, jobs.UserAborted, atAbort.Status)
	require.Less(t, atAbort.Progress.DoneRecords, int64(100000), "aborted mid-run")

	code, took := run.waitExit(t, 10*time.Second)
	require.Equal(t, 1, code, "job run --wait on an aborted job\n%s", tail(run.logPath))
	require.Contains(t, tail(run.logPath), "USER_ABORTED")
	t.Logf("job run --wait exited 1 %s after the abort", took.Round(time.Millisecond))

	res := c.cli(t, tok, "job", "watch", strconv.FormatInt(id, 10), "--interval", "50ms")
	require.Equal(t, 1, res.code, res.String())
	require.Contains(t, res.stdout, "USER_ABORTED")

	res = c.cli(t, tok, "job", "abort", strconv.FormatInt(id, 10))
	require.NotEqual(t, 0, res.code, "aborting twice: %s", res)
	require.Contains(t, res.stderr, "409")
	require.Contains(t, res.stderr, "can no longer be aborted")

	// Wait for every delivery of the job to be over: cancelled handlers
	// returned, their retries ran and found the job no longer running.
	testenv.Eventually(t, 30*time.Second, "no task of the aborted job left in Redis", func() bool {
		return len(c.redisTasksOf(t, id, "default")) == 0
	})

	// Polled twice (at the abort and after every delivery ended): nothing
	// committed after the abort, and the counters are what was committed.
	final := c.showCLI(t, tok, id)
	require.Equal(t, jobs.UserAborted, final.Status)
	require.Equal(t, atAbort.Counters, final.Counters, "counters moved after the abort")
	require.Equal(t, atAbort.Progress.DoneRecords, final.Progress.DoneRecords, "a chunk committed after the abort")
	require.Equal(t, atAbort.Progress.DoneChunks, final.Progress.DoneChunks, "a chunk committed after the abort")
	done := final.Progress.DoneRecords
	require.Positive(t, done)
	require.Equal(t, done, final.Counters["records"], "counters.records == records of done chunks")
	require.Equal(t, done/10, final.Counters["errors"])
	require.Equal(t, []jobs.Status{jobs.Queued, jobs.Initializing, jobs.Running, jobs.UserAborted}, eventStatuses(final))
	require.Contains(t, final.Message, "aborted by")

	// The report holds what was committed, and only that.
	rows := c.report(t, tok, id)
	require.EqualValues(t, final.Counters["errors"], len(rows))
	ranges, err := c.db.Pool.Query(context.Background(), `SELECT lo_key, hi_key FROM chunks WHERE job_id = $1 AND status = 'done'`, id)
	require.NoError(t, err)
	type span struct{ lo, hi int64 }
	spans, err := pgx.CollectRows(ranges, func(r pgx.CollectableRow) (span, error) {
		var s span
		return s, r.Scan(&s.lo, &s.hi)
	})
	require.NoError(t, err)
	for _, r := range rows {
		k, err := strconv.ParseInt(r[0], 10, 64)
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(spans, func(s span) bool { return s.lo <= k && k <= s.hi }),
			"report row %v outside every committed chunk", r)
	}
}

// ---------------------------------------------------------------------------
// 5. Redis loses everything mid-job

func TestRedisLosesEverything(t *testing.T) {
	// Concurrency 1: with two worker slots and an admission window of 4,
	// Redis holds chunk tasks no worker has taken yet, which a restart loses.
	c := startCluster(t, clusterOpts{concurrency: 1})
	tok := c.staffToken(t, "DEMO")
	const records = 3000
	id := c.submit(t, tok, "noop", "records="+strconv.Itoa(records), "record_delay_ms=4")
	c.waitDoneChunks(t, tok, id, 2)
	var waiting []string
	testenv.Eventually(t, 10*time.Second, "a chunk task waiting in Redis", func() bool {
		waiting = c.redisTasksOf(t, id, "default", "pending")
		return len(waiting) > 0
	})
	c.redis.Restart(t)
	before := c.job(t, tok, id)
	require.Less(t, before.Progress.DoneChunks, before.TotalChunks)
	t.Logf("redis restarted empty with %d of %d chunks done; tasks lost: %v",
		before.Progress.DoneChunks, before.TotalChunks, waiting)

	job := c.waitTerminal(t, tok, id, 60*time.Second)
	require.Equal(t, jobs.CompletedSuccess, job.Status, job.Message)
	require.Equal(t, map[string]int64{"records": records}, job.Counters)
	require.EqualValues(t, records, job.Progress.DoneRecords)

	var readmitted int
	require.NoError(t, c.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM chunks WHERE job_id = $1 AND fence > 1`, id).Scan(&readmitted))
	require.Positive(t, readmitted, "chunks lost with Redis are re-admitted under a new fence")
	t.Logf("%d chunks re-admitted after Redis lost them", readmitted)
	// The guard's copy was rebuilt from PostgreSQL under a new epoch (the
	// first was built when the server started).
	var epoch int64
	require.NoError(t, c.db.Pool.QueryRow(context.Background(), `SELECT epoch FROM guard_epoch`).Scan(&epoch))
	require.GreaterOrEqual(t, epoch, int64(2), "the guard's copy is rebuilt after Redis lost it")
	code, metrics := c.http(t, "GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	m := regexp.MustCompile(`(?m)^bindery_guard_rebuilds_total (\d+)$`).FindStringSubmatch(metrics)
	require.NotNil(t, m, "no bindery_guard_rebuilds_total in /metrics")
	require.Equal(t, strconv.FormatInt(epoch, 10), m[1], "one rebuild per epoch: at start and after Redis restarted")

	// Everybody reconnected on their own: the server is ready, no process
	// died, and a new job runs through the new Redis.
	code, body := c.http(t, "GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	for _, p := range c.procs {
		require.False(t, p.exited(), "%s exited:\n%s", p.name, tail(p.logPath))
	}
	res := c.cli(t, tok, "job", "run", "noop", "--param", "records=500", "--wait")
	require.Equal(t, 0, res.code, res.String())
}

// ---------------------------------------------------------------------------
// 6. Health, readiness, metrics

func TestHealthReadinessMetrics(t *testing.T) {
	c := startCluster(t, clusterOpts{workers: 1})
	code, body := c.http(t, "GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	code, body = c.http(t, "GET", "/readyz", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"postgres":"ok","redis":"ok"}`, body)

	// Counters with labels appear once something was counted: run a job.
	tok := c.staffToken(t, "DEMO")
	c.mustCLI(t, tok, "job", "run", "noop", "--param", "records=250", "--wait")
	code, body = c.http(t, "GET", "/metrics", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `bindery_chunks_admitted_total{class="default",institution="DEMO"} 3`)
	require.Contains(t, body, `bindery_jobs_submitted_total{institution="DEMO",type="noop"} 1`)
	require.Contains(t, body, `bindery_jobs_finished_total{status="COMPLETED_SUCCESS",type="noop"} 1`)

	// Not ready without Redis, ready again when it is back (still alive).
	c.redis.Stop()
	code, body = c.http(t, "GET", "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"postgres": "ok"`)
	code, _ = c.http(t, "GET", "/healthz", "", nil)
	require.Equal(t, http.StatusOK, code, "liveness does not depend on Redis")
	c.redis.Restart(t)
	testenv.Eventually(t, 10*time.Second, "/readyz after Redis is back", func() bool {
		code, _ := c.http(t, "GET", "/readyz", "", nil)
		return code == http.StatusOK
	})
}

// ---------------------------------------------------------------------------
// 7. Graceful shutdown

func TestGracefulShutdown(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	tok := c.staffToken(t, "DEMO")
	const records = 4000
	id := c.submit(t, tok, "noop", "records="+strconv.Itoa(records), "record_delay_ms=2")
	c.waitDoneChunks(t, tok, id, 1)

	// A worker stops mid-job: its in-flight chunks finish, it leaves the
	// heartbeat table, and the other worker finishes the job.
	w := c.workers[0]
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	code, took := w.waitExit(t, 5*time.Second)
	require.Equal(t, 0, code, tail(w.logPath))
	t.Logf("worker stopped in %s on SIGTERM mid-job", took.Round(time.Millisecond))
	var registered int
	require.NoError(t, c.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM workers WHERE pid = $1`,
		w.cmd.Process.Pid).Scan(&registered))
	require.Zero(t, registered, "a stopped worker deregisters")

	job := c.waitTerminal(t, tok, id, 60*time.Second)
	require.Equal(t, jobs.CompletedSuccess, job.Status, job.Message)
	require.Equal(t, map[string]int64{"records": records}, job.Counters)

	require.NoError(t, c.server.cmd.Process.Signal(syscall.SIGTERM))
	code, took = c.server.waitExit(t, 5*time.Second)
	require.Equal(t, 0, code, tail(c.server.logPath))
	t.Logf("server stopped in %s on SIGTERM", took.Round(time.Millisecond))

	w = c.workers[1]
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	code, took = w.waitExit(t, 5*time.Second)
	require.Equal(t, 0, code, tail(w.logPath))
	t.Logf("idle worker stopped in %s on SIGTERM", took.Round(time.Millisecond))
}

// ---------------------------------------------------------------------------
// Metadata Import through the binary: the file streamed with the submission,
// staged with the job, imported by the workers; a broken upload leaves
// nothing behind.

// brokenReader yields n bytes of r, then fails, as a client that dies
// mid-upload does.
type brokenReader struct {
	r io.Reader
	n int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errors.New("client died mid-upload")
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

func TestMetadataImportJazz(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	tok := c.staffToken(t, "DEMO")
	ctx := context.Background()
	file, err := filepath.Abs("../../testdata/marc/jazz_1k.mrc")
	require.NoError(t, err)

	start := time.Now()
	res := c.cli(t, tok, "job", "run", "metadata-import", "--param", "profile=vendor-bibs", "--file", file, "--wait")
	elapsed := time.Since(start)
	require.Equal(t, 0, res.code, "%s", res)
	id := parseID(t, res.stdout)
	j := c.job(t, tok, id)
	require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
	require.Equal(t, map[string]int64{"records_in_file": 1000, "imported": 1000}, j.Counters)
	require.EqualValues(t, 1000, j.TotalRecords)
	var records, keys int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM record_keys WHERE institution = 'DEMO')
		FROM records WHERE institution = 'DEMO' AND record_type = 'bib' AND job_id = $1`, id).Scan(&records, &keys))
	require.EqualValues(t, 1000, records)
	require.Greater(t, keys, int64(2000), "001, 035 and ISBN keys")
	var stagedLeft int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM import_staging WHERE job_id = $1`, id).Scan(&stagedLeft))
	require.Zero(t, stagedLeft, "a finished import drops its staged records")
	var inServer float64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT extract(epoch FROM ended_at - submitted_at) FROM jobs WHERE id = $1`, id).Scan(&inServer))
	t.Logf("jazz_1k.mrc: 1000 records; CLI upload to exit (--wait polls every 0.5 s) %s = %.0f records/s; submitted to COMPLETED %.3f s = %.0f records/s",
		elapsed.Round(time.Millisecond), 1000/elapsed.Seconds(), inServer, 1000/inServer)

	rows := c.report(t, tok, id)
	require.Len(t, rows, 1000)
	require.Regexp(t, `^1:\S+$`, rows[0][0], "record id is ordinal:001")
	require.Regexp(t, `^imported as 99\d+$`, rows[0][2])

	// Again: every record matches itself and is merged; nothing new.
	again := parseID(t, c.mustCLI(t, tok, "job", "run", "metadata-import", "--param", "profile=vendor-bibs", "--file", file, "--wait"))
	j = c.job(t, tok, again)
	require.Equal(t, map[string]int64{"records_in_file": 1000, "merged": 1000}, j.Counters)
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM records WHERE institution = 'DEMO'`).Scan(&records))
	require.EqualValues(t, 1000, records)

	// A client that dies mid-upload: no job, no staged record.
	var before int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&before))
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	req, err := http.NewRequest("POST", c.baseURL+"/api/v1/jobs/upload?type=metadata-import&profile=vendor-bibs",
		&brokenReader{r: f, n: 400 << 10})
	require.NoError(t, err)
	req.ContentLength = st.Size()
	req.Header.Set("Authorization", "Bearer "+tok)
	code, _ := c.do(t, req)
	require.Zero(t, code, "the request never completed")
	testenv.Eventually(t, 10*time.Second, "the server to give the upload up", func() bool {
		b, _ := os.ReadFile(c.server.logPath)
		return strings.Contains(string(b), "nothing kept")
	})
	var after, staged int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs),
		(SELECT count(*) FROM import_staging WHERE job_id NOT IN ($1, $2))`, id, again).Scan(&after, &staged))
	require.Equal(t, before, after, "no job from a broken upload")
	require.Zero(t, staged, "no staged record from a broken upload")

	// An unknown profile is refused before anything is read.
	noFile := c.cli(t, tok, "job", "run", "metadata-import", "--param", "profile=nope", "--file", file)
	require.NotEqual(t, 0, noFile.code)
	require.Contains(t, noFile.stderr, `unknown import profile "nope"`)
}

// TestMetadataImportWorkerKilled: kill -9 the worker while chunks of an
// import are inside their transactions, start a replacement: the job ends
// COMPLETED_SUCCESS with every record of the file imported exactly once.
func TestMetadataImportWorkerKilled(t *testing.T) {
	c := startCluster(t, clusterOpts{workers: 1})
	tok := c.staffToken(t, "DEMO")
	ctx := context.Background()
	const records = 20000
	var sources []string
	for _, s := range seed.MARCSources {
		sources = append(sources, "../../"+s)
	}
	file := filepath.Join(c.dir, "generated.mrc")
	_, err := seed.MARCFile(file, records, sources...)
	require.NoError(t, err)

	id := parseID(t, c.mustCLI(t, tok, "job", "run", "metadata-import", "--param", "profile=vendor-bibs", "--file", file))
	c.waitDoneChunks(t, tok, id, 3)

	// Fault injection: a SHARE lock on records lets chunks read and match
	// but holds every chunk at its insert, inside its transaction, until the
	// worker running them is killed.
	lockTx, err := c.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer lockTx.Rollback(ctx) //nolint:errcheck
	_, err = lockTx.Exec(ctx, `LOCK TABLE records IN SHARE MODE`)
	require.NoError(t, err)
	testenv.Eventually(t, 30*time.Second, "a chunk to wait at its insert into records", func() bool {
		var waiting int
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'copy "records"%'`).Scan(&waiting))
		return waiting > 0
	})
	j := c.job(t, tok, id)
	require.Equal(t, jobs.Running, j.Status)
	require.Less(t, j.Progress.DoneChunks, j.TotalChunks, "chunks left to do when the worker dies")
	victim := c.workers[0]
	t.Logf("job %d: %d of %d chunks done; SIGKILL %s (pid %d)", id, j.Progress.DoneChunks, j.TotalChunks, victim.name, victim.cmd.Process.Pid)
	victim.killGroup(t)
	require.Equal(t, -1, victim.exitCode(), "the worker died of the signal")
	require.NoError(t, lockTx.Rollback(ctx))
	c.startWorker(t)

	j = c.waitTerminal(t, tok, id, 90*time.Second)
	require.Equal(t, jobs.CompletedSuccess, j.Status, j.Message)
	require.Equal(t, map[string]int64{"records_in_file": records, "imported": records}, j.Counters)
	var maxFence int64
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT max(fence) FROM chunks WHERE job_id = $1`, id).Scan(&maxFence))
	require.Greater(t, maxFence, int64(1), "the killed worker's chunks were re-admitted")

	// Exactly once: one bib per 001, each from this job, and one report row
	// per record of the file.
	var bibs, distinct001, dup001 int
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM records WHERE institution = 'DEMO' AND job_id = $1),
			(SELECT count(DISTINCT value) FROM record_keys WHERE institution = 'DEMO' AND kind = '001'),
			(SELECT count(*) FROM (SELECT value FROM record_keys WHERE institution = 'DEMO' AND kind = '001'
				GROUP BY value HAVING count(*) > 1) d)`, id).Scan(&bibs, &distinct001, &dup001))
	require.Equal(t, records, bibs)
	require.Equal(t, records, distinct001)
	require.Zero(t, dup001, "no 001 held by two bibs")
	rows := c.report(t, tok, id)
	require.Len(t, rows, records)
	seen := map[string]bool{}
	for _, r := range rows {
		require.False(t, seen[r[0]], "report row %s twice", r[0])
		seen[r[0]] = true
		require.Equal(t, "success", r[1], "%v", r)
	}
}

// ---------------------------------------------------------------------------
// 8. The dependency guard through the real binary

// TestGuardPendingThenRunsAndSkip: with DEMO's rules, Loan Anonymization
// waits for noop (and is single-instance): a Loan Anonymization submitted
// while a noop runs shows PENDING ("Waiting for" in job show) and runs by
// itself once the noop ended; a second one is SKIPPED naming the first.
func TestGuardPendingThenRunsAndSkip(t *testing.T) {
	c := startCluster(t, clusterOpts{concurrency: 1, demoRules: "      loan-anonymization: {waits_for: [noop]}\n"})
	tok := c.staffToken(t, "DEMO")
	slow := c.submit(t, tok, "noop", "records=3000", "record_delay_ms=4")
	c.waitDoneChunks(t, tok, slow, 1)

	anon := c.submit(t, tok, "loan-anonymization")
	show := c.mustCLI(t, tok, "job", "show", strconv.FormatInt(anon, 10))
	require.Contains(t, show, "PENDING", show)
	require.Regexp(t, `Waiting for\s+`+strconv.FormatInt(slow, 10), show)
	second := c.job(t, tok, c.submit(t, tok, "loan-anonymization"))
	require.Equal(t, jobs.Skipped, second.Status)
	require.Contains(t, second.Message, fmt.Sprintf("another instance is in process: job %d (loan-anonymization, PENDING", anon))

	require.Equal(t, jobs.CompletedSuccess, c.waitTerminal(t, tok, slow, 60*time.Second).Status)
	ended := c.waitTerminal(t, tok, anon, 60*time.Second)
	require.NotEqual(t, jobs.Skipped, ended.Status, ended.Message)
	var queuedAt, slowEnded time.Time
	require.NoError(t, c.db.Pool.QueryRow(context.Background(), `SELECT
			(SELECT at FROM job_events WHERE job_id = $1 AND status = 'QUEUED'),
			(SELECT ended_at FROM jobs WHERE id = $2)`, anon, slow).Scan(&queuedAt, &slowEnded))
	require.False(t, queuedAt.Before(slowEnded), "promoted at %s, before noop ended at %s", queuedAt, slowEnded)
	var epoch *int64
	require.NoError(t, c.db.Pool.QueryRow(context.Background(), `SELECT guard_epoch FROM jobs WHERE id = $1`, anon).Scan(&epoch))
	require.NotNil(t, epoch, "the decision is recorded with its epoch")
}
