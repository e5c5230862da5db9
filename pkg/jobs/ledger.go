package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/pgbulk"
)

// PlanRanges writes the job's chunk ledger from a population query. keysSQL
// must select one bigint column named key (the record's key, e.g. a loan id);
// the rows are cut, in key order, into chunks of at most chunkSize records,
// each stored as its key range. It runs entirely inside PostgreSQL.
func PlanRanges(ctx context.Context, tx pgx.Tx, jobID int64, chunkSize int, keysSQL string, args ...any) error {
	n := len(args)
	sql := fmt.Sprintf(`INSERT INTO chunks (job_id, seq, lo_key, hi_key, records)
		SELECT $%d, g, min(key), max(key), count(*)
		FROM (SELECT key, ((row_number() OVER (ORDER BY key)) - 1) / $%d AS g FROM (%s) pop) numbered
		GROUP BY g`, n+1, n+2, keysSQL)
	args = append(args, jobID, chunkSize)
	_, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("plan chunks of job %d: %w", jobID, err)
	}
	return nil
}

// PlanChunks writes the job's chunk ledger from chunks already cut:
// chunksSQL must select bigint columns lo and hi (a key range) and an int
// column records, one row per chunk; they are numbered in lo order. It
// returns how many chunks it wrote.
func PlanChunks(ctx context.Context, tx pgx.Tx, jobID int64, chunksSQL string, args ...any) (int64, error) {
	sql := fmt.Sprintf(`INSERT INTO chunks (job_id, seq, lo_key, hi_key, records)
		SELECT $%d, (row_number() OVER (ORDER BY lo)) - 1, lo, hi, records FROM (%s) cut`, len(args)+1, chunksSQL)
	tag, err := tx.Exec(ctx, sql, append(args, jobID)...)
	if err != nil {
		return 0, fmt.Errorf("plan chunks of job %d: %w", jobID, err)
	}
	return tag.RowsAffected(), nil
}

// Admit moves up to n pending chunks of a job to queued, each under a new
// fence, and returns them. The caller enqueues them; a crash in between is
// repaired by the reconciler, which finds queued chunks with no task.
func (s *Store) Admit(ctx context.Context, jobID int64, n int) ([]Chunk, error) {
	admitted, err := s.AdmitMany(ctx, []AdmitRequest{{JobID: jobID, N: n}})
	return admitted[jobID], err
}

// MarkStarted records that workerID began the chunk under fence, and
// returns how long the chunk waited between its admission and this start
// (its queue wait). False means the delivery is stale (re-admitted since,
// already done, or its job no longer runs).
func (s *Store) MarkStarted(ctx context.Context, c Chunk, workerID string) (bool, time.Duration, error) {
	var started bool
	var waited float64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// The marker need not survive a PostgreSQL crash (the reconciler
		// then finds the chunk by its missing task), so its commit does not
		// wait for the disk.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `UPDATE chunks SET started_at = now(), worker_id = $4
			WHERE job_id = $1 AND seq = $2 AND fence = $3 AND status = 'queued'
			  AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND status = 'RUNNING')
			RETURNING extract(epoch FROM now() - admitted_at)::float8`, c.JobID, c.Seq, c.Fence, workerID).Scan(&waited)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		started = err == nil
		return err
	})
	return started, time.Duration(waited * float64(time.Second)), err
}

// CommitChunk marks the chunk done inside tx, with its counters and report
// rows, only if its fence still matches and the job still runs. It returns
// ErrStaleFence when it may not commit: the caller must roll back.
func (s *Store) CommitChunk(ctx context.Context, tx pgx.Tx, c Chunk, res *ChunkResult) error {
	// FOR SHARE on the job row: an abort (an UPDATE of that row) waits for
	// commits in flight, and no commit succeeds after the abort.
	var running bool
	err := tx.QueryRow(ctx, `SELECT status = 'RUNNING' FROM jobs WHERE id = $1 FOR SHARE`, c.JobID).Scan(&running)
	if err != nil {
		return fmt.Errorf("commit chunk %d/%d: %w", c.JobID, c.Seq, err)
	}
	if !running {
		return ErrStaleFence
	}
	counters, err := json.Marshal(res.Counters)
	if err != nil {
		return err
	}
	if res.Counters == nil {
		counters = []byte("{}")
	}
	tag, err := tx.Exec(ctx, `UPDATE chunks SET status = 'done', committed_at = now(), counters = $4, error = ''
		WHERE job_id = $1 AND seq = $2 AND fence = $3 AND status = 'queued'`, c.JobID, c.Seq, c.Fence, counters)
	if err != nil {
		return fmt.Errorf("commit chunk %d/%d: %w", c.JobID, c.Seq, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrStaleFence
	}
	if len(res.Rows) > 0 {
		ids := make([]string, len(res.Rows))
		outcomes := make([]string, len(res.Rows))
		messages := make([]string, len(res.Rows))
		problems := 0
		for i, r := range res.Rows {
			ids[i], outcomes[i], messages[i] = r.RecordID, r.Outcome, r.Message
			if r.Outcome == OutcomeWarning || r.Outcome == OutcomeError {
				problems++
			}
		}
		_, err = pgbulk.Exec(ctx, tx, `INSERT INTO job_report_chunks (job_id, chunk_seq, problems, record_ids, outcomes, messages)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.JobID, c.Seq, problems, ids, outcomes, messages)
		if err != nil {
			return fmt.Errorf("report rows of chunk %d/%d: %w", c.JobID, c.Seq, err)
		}
	}
	return nil
}

// FailChunk marks a chunk failed (its retries are spent) if fence matches.
func (s *Store) FailChunk(ctx context.Context, c Chunk, reason string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE chunks SET status = 'failed', error = $4
		WHERE job_id = $1 AND seq = $2 AND fence = $3 AND status = 'queued'`, c.JobID, c.Seq, c.Fence, reason)
	return err
}

// Release puts a queued chunk back to pending so it is re-admitted under a
// new fence; a delivery of the old fence becomes a no-op.
func (s *Store) Release(ctx context.Context, c Chunk) (bool, error) {
	tag, err := s.Pool.Exec(ctx, `UPDATE chunks SET status = 'pending'
		WHERE job_id = $1 AND seq = $2 AND fence = $3 AND status = 'queued'`, c.JobID, c.Seq, c.Fence)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// QueuedChunk is a chunk in flight, as the reconciler sees it.
type QueuedChunk struct {
	Chunk
	Class       string
	WorkerID    string // empty: not started
	WorkerAlive bool
	AgeSeconds  float64 // since admission
}

// QueuedChunks lists the in-flight chunks of running jobs with the liveness
// of the worker that started each (dead: no heartbeat for staleSeconds).
func (s *Store) QueuedChunks(ctx context.Context, staleSeconds float64) ([]QueuedChunk, error) {
	rows, err := s.Pool.Query(ctx, `SELECT c.job_id, c.seq, c.fence, c.lo_key, c.hi_key, c.records, coalesce(c.queue, j.priority_class),
			coalesce(c.worker_id, ''),
			coalesce(w.heartbeat_at > now() - make_interval(secs => $1), false),
			extract(epoch FROM now() - c.admitted_at)::float8
		FROM chunks c JOIN jobs j ON j.id = c.job_id
		LEFT JOIN workers w ON w.id = c.worker_id
		WHERE c.status = 'queued' AND j.status = 'RUNNING'`, staleSeconds)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (QueuedChunk, error) {
		var q QueuedChunk
		return q, r.Scan(&q.JobID, &q.Seq, &q.Fence, &q.Lo, &q.Hi, &q.Records, &q.Class, &q.WorkerID, &q.WorkerAlive, &q.AgeSeconds)
	})
}

// JobChunkIDs returns the queued chunks of one job (for abort).
func (s *Store) JobChunks(ctx context.Context, jobID int64, status string) ([]Chunk, error) {
	rows, err := s.Pool.Query(ctx, `SELECT job_id, seq, fence, lo_key, hi_key, records FROM chunks
		WHERE job_id = $1 AND status = $2 ORDER BY seq`, jobID, status)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Chunk, error) {
		var c Chunk
		return c, r.Scan(&c.JobID, &c.Seq, &c.Fence, &c.Lo, &c.Hi, &c.Records)
	})
}

// LedgerSummary is what finalization needs to decide a job's status.
type LedgerSummary struct {
	Total, Done, Failed int
	Problems            int64 // report rows with outcome warning or error
	FailReasons         []string
}

// Summary aggregates a job's ledger.
func (s *Store) Summary(ctx context.Context, q DBTX, jobID int64) (LedgerSummary, error) {
	var sum LedgerSummary
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'failed'),
			coalesce(array_agg('chunk ' || seq || ': ' || error) FILTER (WHERE status = 'failed'), '{}')
		FROM chunks WHERE job_id = $1`, jobID).Scan(&sum.Total, &sum.Done, &sum.Failed, &sum.FailReasons)
	if err != nil {
		return sum, err
	}
	err = q.QueryRow(ctx, `SELECT coalesce(sum(problems), 0) FROM job_report_chunks WHERE job_id = $1`, jobID).Scan(&sum.Problems)
	return sum, err
}

// ReportRows streams a job's report in chunk order to fn.
func (s *Store) ReportRows(ctx context.Context, jobID int64, fn func(ReportRow) error) error {
	rows, err := s.Pool.Query(ctx, `SELECT record_ids, outcomes, messages FROM job_report_chunks
		WHERE job_id = $1 ORDER BY chunk_seq`, jobID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ids, outcomes, messages []string
	for rows.Next() {
		if err := rows.Scan(&ids, &outcomes, &messages); err != nil {
			return err
		}
		if len(outcomes) != len(ids) || len(messages) != len(ids) {
			return fmt.Errorf("job %d: a chunk's report arrays differ in length", jobID)
		}
		for i := range ids {
			if err := fn(ReportRow{RecordID: ids[i], Outcome: outcomes[i], Message: messages[i]}); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// Heartbeat records that a worker is alive.
func (s *Store) Heartbeat(ctx context.Context, id, host string, pid, concurrency int) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO workers (id, host, pid, concurrency) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, id, host, pid, concurrency)
	return err
}

// Deregister removes a worker that shut down cleanly.
func (s *Store) Deregister(ctx context.Context, id string) error {
	_, err := s.Pool.Exec(ctx, `DELETE FROM workers WHERE id = $1`, id)
	return err
}

// AdmitRequest asks for up to N pending chunks of a job, bound for Queue.
type AdmitRequest struct {
	JobID int64
	N     int
	Queue string
}

// AdmitMany is Admit for several jobs in one statement (one round trip
// however many jobs a fair admission pass spreads its chunks over), each
// request recording the queue its chunks go to ("": the job's class), which
// the reconciler looks in even if the job's class changes. The chunks come
// back grouped by job, in seq order.
func (s *Store) AdmitMany(ctx context.Context, reqs []AdmitRequest) (map[int64][]Chunk, error) {
	ids := make([]int64, len(reqs))
	ns := make([]int32, len(reqs))
	queues := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i], ns[i], queues[i] = r.JobID, int32(r.N), r.Queue
	}
	rows, err := s.Pool.Query(ctx, `WITH picked AS (
			SELECT p.job_id, p.seq, w.queue FROM unnest($1::bigint[], $2::int[], $3::text[]) AS w(job_id, n, queue)
			CROSS JOIN LATERAL (SELECT job_id, seq FROM chunks WHERE job_id = w.job_id AND status = 'pending'
			                    ORDER BY seq LIMIT w.n FOR UPDATE SKIP LOCKED) p)
		UPDATE chunks c SET status = 'queued', fence = c.fence + 1,
			admitted_at = now(), started_at = NULL, worker_id = NULL, attempts = c.attempts + 1,
			queue = nullif(picked.queue, '')
		FROM picked WHERE c.job_id = picked.job_id AND c.seq = picked.seq
		RETURNING c.job_id, c.seq, c.fence, c.lo_key, c.hi_key, c.records`, ids, ns, queues)
	if err != nil {
		return nil, fmt.Errorf("admit chunks of %d jobs: %w", len(reqs), err)
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Chunk, error) {
		var c Chunk
		return c, r.Scan(&c.JobID, &c.Seq, &c.Fence, &c.Lo, &c.Hi, &c.Records)
	})
	if err != nil {
		return nil, fmt.Errorf("admit chunks of %d jobs: %w", len(reqs), err)
	}
	out := make(map[int64][]Chunk, len(reqs))
	for _, c := range chunks {
		out[c.JobID] = append(out[c.JobID], c)
	}
	for _, cs := range out {
		slices.SortFunc(cs, func(a, b Chunk) int { return a.Seq - b.Seq })
	}
	return out, nil
}
