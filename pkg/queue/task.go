// Package queue is Bindery's seam to asynq: the chunk task (its payload and
// deterministic, fence-bearing id), Redis connection options and a slog
// bridge for asynq's logger.
package queue

import (
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/bindery/bindery/pkg/jobs"
)

// TypeChunk is the asynq task type of every chunk of every job type.
const TypeChunk = "bindery:chunk"

// ChunkPayload is what a chunk task carries: enough to find its ledger row.
type ChunkPayload struct {
	jobs.Chunk
	JobType string `json:"job_type"`
}

// TaskID is the chunk task's id: unique per admission, so a re-admitted chunk
// never collides with a stale task of an earlier fence still kept in Redis.
func TaskID(c jobs.Chunk) string {
	return fmt.Sprintf("job:%d:chunk:%d:%d", c.JobID, c.Seq, c.Fence)
}

// MaxRetry is how often a failing chunk is retried before it is marked failed.
const MaxRetry = 5

// NewChunkTask builds the task for one admitted chunk in the given queue.
func NewChunkTask(c jobs.Chunk, jobType, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(ChunkPayload{Chunk: c, JobType: jobType})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeChunk, b, asynq.TaskID(TaskID(c)), asynq.Queue(queue), asynq.MaxRetry(MaxRetry)), nil
}

// ParseChunkTask decodes a chunk task's payload. A payload that cannot be
// decoded will never decode: the error wraps asynq.SkipRetry.
func ParseChunkTask(t *asynq.Task) (ChunkPayload, error) {
	var p ChunkPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("chunk task: bad payload: %v: %w", err, asynq.SkipRetry)
	}
	if p.JobID <= 0 || p.Fence <= 0 || p.JobType == "" {
		return p, fmt.Errorf("chunk task: payload lacks job id, fence or job type: %w", asynq.SkipRetry)
	}
	return p, nil
}
