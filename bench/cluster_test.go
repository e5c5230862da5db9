package bench_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bindery/bindery/pkg/testenv"
)

// buildBindery builds the bindery binary into dir and returns its path.
func buildBindery(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "bindery")
	build := exec.Command("go", "build", "-o", bin, "../cmd/bindery")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("go build: %v", err)
	}
	return bin
}

// cluster is a `bindery server` and a `bindery worker` process of a built
// binary, on the given database, Redis and configuration file, with a
// staff token for the CLI.
type cluster struct {
	b       *testing.B
	bin     string
	env     []string
	server  *binderyProc
	worker  *binderyProc
	cliCPU  time.Duration // of the last run
	logsDir string
}

// startCluster starts the server, waits (30 s at most) until it is ready,
// starts a worker of the given concurrency and creates a staff token of
// institution. Both processes write their logs into dir and are stopped
// at cleanup if the benchmark has not stopped them.
func startCluster(b *testing.B, bin, dir, cfgPath, dbURL, redisURL string, concurrency int) *cluster {
	b.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b))
	c := &cluster{b: b, bin: bin, logsDir: dir, env: []string{
		"BINDERY_DATABASE_URL=" + dbURL, "BINDERY_REDIS_URL=" + redisURL,
		"BINDERY_ADDR=" + addr, "BINDERY_SERVER=http://" + addr, "BINDERY_CONFIG=" + cfgPath,
	}}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BINDERY_") {
			c.env = append(c.env, kv)
		}
	}
	c.server = c.start("server", "server")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			logText, _ := os.ReadFile(c.server.log)
			b.Fatalf("server not ready after 30 s:\n%s", logText)
		}
		time.Sleep(50 * time.Millisecond) // a deadline-bounded poll for a separate process
	}
	c.worker = c.start("worker", "worker", "--concurrency", strconv.Itoa(concurrency))
	c.env = append(c.env, "BINDERY_TOKEN="+c.run("token", "create", "--institution", institution, "--role", "staff", "--user", "bench"))
	return c
}

// start runs `bindery args…` in its own process group, its output in
// name.log.
func (c *cluster) start(name string, args ...string) *binderyProc {
	c.b.Helper()
	p := &binderyProc{name: name, log: filepath.Join(c.logsDir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		c.b.Fatal(err)
	}
	p.cmd = exec.Command(c.bin, args...)
	p.cmd.Env = c.env
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		c.b.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	c.b.Cleanup(p.stop)
	return p
}

// run runs the CLI `bindery args…` to its end (20 minutes at most) and
// returns its trimmed standard output; its CPU time is left in cliCPU.
func (c *cluster) run(args ...string) string {
	c.b.Helper()
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.bin, args...)
	cmd.Env = c.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.ProcessState != nil {
		c.cliCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		c.b.Fatalf("bindery %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// stop stops the worker, then the server.
func (c *cluster) stop() {
	c.worker.stop()
	c.server.stop()
}

// binderyProc is a bindery process the benchmark started.
type binderyProc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// peakRSS is the process's peak resident set (VmHWM), in MB.
func (p *binderyProc) peakRSS(b *testing.B) float64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("%s: %v", p.name, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("%s: no VmHWM in /proc/%d/status", p.name, p.cmd.Process.Pid)
	return 0
}

// stop sends SIGTERM, then SIGKILL to the group if it lingers, and reaps it.
func (p *binderyProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}
