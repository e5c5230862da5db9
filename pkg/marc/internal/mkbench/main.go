// Command mkbench measures the MARC codecs' throughput on about 100 MB of real
// records beside yaz-marcdump's on the same files (make bench-marc).
//
// It builds, under -dir, all.mrc (every good binary record of the shared test
// files, repeated: MARC-8, UTF-8 and ASCII), marc8.mrc (the MARC-8 ones only)
// and all.xml (all.mrc as Bindery's MARCXML), then times, best of -runs:
//
//	binary read             Bindery BinaryReader.Read, and ReadRecord (reusing
//	                        one Record)                 vs yaz-marcdump -n
//	MARCXML read            Bindery XMLReader.Read      vs yaz-marcdump -i marcxml -n
//	binary write            Bindery BinaryWriter        (no yaz figure)
//	binary -> MARCXML       BinaryReader + XMLWriter    vs yaz-marcdump -o marcxml
//	MARC-8 -> UTF-8 MARCXML same, --encoding marc8      vs yaz-marcdump -f marc8 -t utf8 -o marcxml
//
// Output goes to /dev/null for both. Throughput is records and input megabytes
// (output megabytes for the write) per second of wall time; the ratio is given
// on wall time and on CPU time (user+system, Bindery's GC included), which is the
// fairer one on a busy machine. Bindery reads MARC-8 records as MARC-8 in every
// row (its default detects them), so its binary read and binary -> MARCXML
// decode MARC-8 where yaz, without -f/-t, copies bytes.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bindery/bindery/pkg/marc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkbench:", err)
		os.Exit(1)
	}
}

type config struct {
	testdata, manifest, dir, yaz string
	sizeMB, runs                 int
}

func run() error {
	var c config
	def := os.Getenv("BINDERY_MARC_TESTDATA")
	if def == "" {
		def = "/work/shared/testdata/marc"
	}
	flag.StringVar(&c.testdata, "testdata", def, "directory of the shared MARC test files")
	flag.StringVar(&c.manifest, "manifest", "pkg/marc/testdata/golden/MANIFEST", "list of the test files and which are good")
	flag.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "bindery-marcbench"), "where to build the benchmark files (kept between runs)")
	flag.IntVar(&c.sizeMB, "size", 100, "size of the benchmark files, in MB")
	flag.IntVar(&c.runs, "runs", 3, "runs of each measurement; the best is kept")
	flag.StringVar(&c.yaz, "yaz", "yaz-marcdump", "yaz-marcdump to compare with (skipped when not found)")
	flag.Parse()
	if c.runs < 1 || c.sizeMB < 1 {
		return errors.New("-runs and -size must be positive")
	}

	all, marc8Recs, err := loadRecords(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	allPath := filepath.Join(c.dir, "all.mrc")
	marc8Path := filepath.Join(c.dir, "marc8.mrc")
	xmlPath := filepath.Join(c.dir, "all.xml")
	target := int64(c.sizeMB) << 20
	nAll, err := buildBinary(allPath, all, target)
	if err != nil {
		return err
	}
	nMARC8, err := buildBinary(marc8Path, marc8Recs, target)
	if err != nil {
		return err
	}
	if err := buildXML(xmlPath, allPath); err != nil {
		return err
	}
	yaz, err := exec.LookPath(c.yaz)
	if err != nil {
		yaz = ""
	}

	fmt.Printf("all.mrc   %s: %d records (%d distinct, MARC-8, UTF-8, ASCII)\n", describe(allPath), nAll, len(all))
	fmt.Printf("marc8.mrc %s: %d records (%d distinct MARC-8)\n", describe(marc8Path), nMARC8, len(marc8Recs))
	fmt.Printf("all.xml   %s: all.mrc as MARCXML\n", describe(xmlPath))
	fmt.Printf("in %s; best of %d runs; GOMAXPROCS %s; load average %s\n\n", c.dir, c.runs, gomaxprocs(), loadavg())

	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()

	inputSize := func(path string, f func() error) func() (int64, error) {
		return func() (int64, error) { return fileSize(path), f() }
	}
	rows := []row{
		{name: "binary read (Read)", records: nAll, target: 1,
			bindery: inputSize(allPath, func() error { return readBinary(allPath, false) }),
			yazArgs: []string{"-n", allPath}},
		{name: "binary read (ReadRecord)", records: nAll, target: 1,
			bindery: inputSize(allPath, func() error { return readBinary(allPath, true) }),
			yazArgs: []string{"-n", allPath}},
		{name: "MARCXML read", records: nAll,
			bindery: inputSize(xmlPath, func() error { return readXML(xmlPath) }),
			yazArgs: []string{"-i", "marcxml", "-n", xmlPath}},
		{name: "binary write", records: nAll,
			bindery: writeBinary(all, nAll, devNull)},
		{name: "binary -> MARCXML", records: nAll, target: 2,
			bindery: inputSize(allPath, func() error { return binaryToXML(allPath, marc.EncodingAuto, devNull) }),
			yazArgs: []string{"-o", "marcxml", allPath}},
		{name: "MARC-8 -> UTF-8 MARCXML", records: nMARC8, target: 2,
			bindery: inputSize(marc8Path, func() error { return binaryToXML(marc8Path, marc.EncodingMARC8, devNull) }),
			yazArgs: []string{"-f", "marc8", "-t", "utf8", "-o", "marcxml", marc8Path}},
	}

	fmt.Printf("%-25s %12s %9s   %12s %9s   %s\n", "", "Bindery", "", "yaz", "", "Bindery/yaz")
	fmt.Printf("%-25s %12s %9s   %12s %9s   %-8s %-8s %s\n", "", "records/s", "MB/s", "records/s", "MB/s", "wall", "cpu", "target (cpu)")
	failed := false
	for _, r := range rows {
		var size int64
		b, err := best(c.runs, func() (timing, error) {
			return measure(func() (err error) { size, err = r.bindery(); return err })
		})
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		line := fmt.Sprintf("%-25s %12.0f %9.1f", r.name, float64(r.records)/b.wall.Seconds(), mb(size)/b.wall.Seconds())
		if yaz == "" || r.yazArgs == nil {
			fmt.Println(line + "   " + strings.Repeat(" ", 22) + "   -")
			continue
		}
		y, err := best(c.runs, func() (timing, error) { return runYaz(yaz, r.yazArgs) })
		if err != nil {
			return fmt.Errorf("%s: yaz: %w", r.name, err)
		}
		wall := y.wall.Seconds() / b.wall.Seconds()
		cpu := y.cpu.Seconds() / b.cpu.Seconds()
		verdict := ""
		if r.target > 0 {
			verdict = fmt.Sprintf("≥ %.0f× ", r.target)
			if cpu >= r.target {
				verdict += "met"
			} else {
				verdict += "MISSED"
				failed = true
			}
		}
		fmt.Printf("%s   %12.0f %9.1f   %-8s %-8s %s\n", line, float64(r.records)/y.wall.Seconds(), mb(size)/y.wall.Seconds(),
			fmt.Sprintf("%.2f×", wall), fmt.Sprintf("%.2f×", cpu), verdict)
	}
	if yaz == "" {
		fmt.Println("\nyaz-marcdump not found: no comparison (apt-get install yaz)")
	}
	if failed {
		fmt.Println("\na target was missed (on CPU time)")
	}
	return nil
}

// row is one measurement.
type row struct {
	name    string
	records int
	target  float64               // Bindery/yaz CPU-time ratio to reach, 0 for none
	bindery func() (int64, error) // returns the bytes its MB/s counts
	yazArgs []string              // yaz-marcdump's arguments for the same work, or nil
}

type timing struct{ wall, cpu time.Duration }

// best runs f n times and returns the fastest run by wall time.
func best(n int, f func() (timing, error)) (timing, error) {
	var out timing
	for i := range n {
		t, err := f()
		if err != nil {
			return out, err
		}
		if i == 0 || t.wall < out.wall {
			out = t
		}
	}
	return out, nil
}

// measure times f in this process: wall time, and CPU time of every thread
// (the garbage collector's included).
func measure(f func() error) (timing, error) {
	cpu0 := selfCPU()
	t0 := time.Now()
	err := f()
	return timing{wall: time.Since(t0), cpu: selfCPU() - cpu0}, err
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runYaz times yaz-marcdump, its output to /dev/null.
func runYaz(yaz string, args []string) (timing, error) {
	cmd := exec.Command(yaz, args...)
	// yaz complains on stderr about every auth-1066 record (leader/22 blank):
	// keep the start only, for an error message.
	stderr := &headWriter{max: 4 << 10}
	cmd.Stderr = stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return timing{}, fmt.Errorf("%v: %s", err, stderr.buf.String())
	}
	return timing{wall: time.Since(t0), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// loadRecords reads the good binary files listed in the manifest and returns
// their records (as bytes), all of them and the MARC-8 ones.
func loadRecords(c config) (all, marc8Recs [][]byte, err error) {
	f, err := os.Open(c.manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (run from the repository root)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 || cols[1] != "marc" || cols[4] != "good" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(c.testdata, cols[0]))
		if err != nil {
			return nil, nil, err
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, 0x1D)
			if i < 0 {
				break
			}
			rec := data[:i+1]
			data = data[i+1:]
			all = append(all, rec)
			if cols[2] == "marc8" {
				marc8Recs = append(marc8Recs, rec)
			}
		}
	}
	if len(all) == 0 || len(marc8Recs) == 0 {
		return nil, nil, fmt.Errorf("no good records found in %s", c.testdata)
	}
	return all, marc8Recs, sc.Err()
}

// buildBinary writes recs repeated until the file reaches target bytes, unless
// a file of that size made from them is already there, and returns how many
// records it holds.
func buildBinary(path string, recs [][]byte, target int64) (int, error) {
	var one int64
	for _, r := range recs {
		one += int64(len(r))
	}
	rounds := (target + one - 1) / one
	n := int(rounds) * len(recs)
	if fi, err := os.Stat(path); err == nil && fi.Size() == rounds*one {
		return n, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for range rounds {
		for _, r := range recs {
			if _, err := w.Write(r); err != nil {
				f.Close()
				return 0, err
			}
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return n, f.Close()
}

// buildXML converts the binary file to MARCXML unless that is already done.
func buildXML(path, from string) error {
	src, err := os.Stat(from)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && fi.ModTime().After(src.ModTime()) {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binaryToXML(from, marc.EncodingAuto, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readBinary reads the file with Read (a new Record each time) or ReadRecord
// (one Record reused, as yaz reuses its memory from record to record).
func readBinary(path string, reuse bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := marc.NewBinaryReader(f, nil)
	if err != nil {
		return err
	}
	var rec marc.Record
	for {
		p := &rec
		if reuse {
			err = r.ReadRecord(p)
		} else {
			p, err = r.Read()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		visit(p)
	}
}

func readXML(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := marc.NewXMLReader(f, nil)
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		visit(rec)
	}
}

// writeBinary returns a function that writes the distinct records (decoded
// once, here) repeatedly, n in all, and returns how many bytes it wrote.
func writeBinary(raw [][]byte, n int, out io.Writer) func() (int64, error) {
	recs := make([]*marc.Record, 0, len(raw))
	for _, r := range raw {
		rec, err := marc.Unmarshal(r)
		if err == nil {
			recs = append(recs, rec)
		}
	}
	return func() (int64, error) {
		cw := &countWriter{w: out}
		bw := bufio.NewWriterSize(cw, 64<<10)
		w := marc.NewBinaryWriter(bw, nil)
		for i := range n {
			if err := w.Write(recs[i%len(recs)]); err != nil {
				return cw.n, err
			}
		}
		err := bw.Flush()
		return cw.n, err
	}
}

func binaryToXML(path string, enc marc.Encoding, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := marc.NewBinaryReader(f, &marc.BinaryReaderOptions{Encoding: enc})
	if err != nil {
		return err
	}
	w := marc.NewXMLWriter(out)
	var rec marc.Record
	for {
		err := r.ReadRecord(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := w.Write(&rec); err != nil {
			return err
		}
	}
	return w.Close()
}

// visit touches every value, as a consumer would.
func visit(rec *marc.Record) int {
	n := 0
	for i := range rec.Fields {
		f := &rec.Fields[i]
		n += len(f.Value)
		for _, s := range f.Subfields {
			n += len(s.Value)
		}
	}
	return n
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	buf bytes.Buffer
	max int
}

func (h *headWriter) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func describe(path string) string { return fmt.Sprintf("%.1f MB", mb(fileSize(path))) }

func gomaxprocs() string {
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		return v
	}
	return "default"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
