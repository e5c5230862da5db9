package bench_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	shipped "github.com/bindery/bindery/config"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/guard"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/testenv"
)

// BenchmarkGuard: guard decisions per second (submit -> decision, the job
// row and its event included) with 1,000 unfinished jobs across 50
// institutions, beside raw Redis EVALSHA ops/s measured in the same run.
// The guard decides in PostgreSQL (the truth), under a per-institution
// advisory lock, so the comparison says what taking the decision in the
// system of record costs against the fastest possible Redis step.
func BenchmarkGuard(b *testing.B) {
	ctx := context.Background()
	const institutions, running, submissions, workers = 50, 1000, 4000, 8
	yaml := string(shipped.Default)
	var extra string
	for i := 0; i < institutions; i++ {
		extra += fmt.Sprintf("  - {id: B%02d, name: Bench %d, network: DEMO-NET}\n", i, i)
	}
	yaml = insertAfter(yaml, "institutions:\n", extra)
	cat, err := config.Parse("bench", []byte(yaml))
	if err != nil {
		b.Fatal(err)
	}
	db := testenv.NewDatabase(b)
	store := jobs.NewStore(db.Pool)
	g := &guard.Guard{Catalog: cat}
	// 1,000 running jobs: 20 per institution.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO jobs (institution, type, status, submitted_by, priority_class, started_at)
		SELECT 'B' || lpad((g % 50)::text, 2, '0'), 'noop', 'RUNNING', 'bench', 'default', now()
		FROM generate_series(1, $1) g`, running); err != nil {
		b.Fatal(err)
	}

	submit := func(i int) error {
		in := fmt.Sprintf("B%02d", i%institutions)
		typ := "noop"
		if i%4 == 0 {
			typ = "loan-anonymization" // single-instance: a quarter of decisions are SKIPs
		}
		_, err := store.Insert(ctx, jobs.NewJob{Institution: in, Type: typ, SubmittedBy: "bench", PriorityClass: "default",
			SingleInstance: cat.Rules(in, typ).SingleInstance}, g)
		return err
	}
	guardRate := parallelRate(b, submissions, workers, submit)

	rd := testenv.NewRedis(b)
	opt, _ := redis.ParseURL(rd.URL)
	rc := redis.NewClient(opt)
	defer rc.Close()
	script := redis.NewScript(`local n = redis.call('HLEN', KEYS[1]) if n < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) return 1 end return 0`)
	if err := script.Load(ctx, rc).Err(); err != nil {
		b.Fatal(err)
	}
	evalRate := parallelRate(b, submissions*5, workers, func(i int) error {
		return script.EvalSha(ctx, rc, []string{fmt.Sprintf("guard:B%02d", i%institutions)}, 1<<30, i, "noop").Err()
	})
	fmt.Printf("guard: %.0f decisions/s (%d submissions, %d goroutines, %d running jobs in %d institutions) | raw Redis EVALSHA: %.0f ops/s | ratio %.2f\n",
		guardRate, submissions, workers, running, institutions, evalRate, guardRate/evalRate)
	b.ReportMetric(guardRate, "decisions/s")
	b.ReportMetric(evalRate, "evalsha/s")
}

func insertAfter(s, marker, add string) string {
	for i := 0; i+len(marker) <= len(s); i++ {
		if s[i:i+len(marker)] == marker {
			return s[:i+len(marker)] + add + s[i+len(marker):]
		}
	}
	return s
}

// parallelRate runs fn(0..n-1) on workers goroutines and returns calls/s.
func parallelRate(b *testing.B, n, workers int, fn func(int) error) float64 {
	b.Helper()
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
