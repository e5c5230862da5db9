// Package changes keeps what each chunk of a Metadata Import changed in the
// catalog: the records it created, and the records it merged into or
// overlaid as they were before, one row of import_changes per chunk
// (migration 0019). Revert Import reads it back, chunk for chunk.
//
// A record is in one row of a job: the chunk that created it, or the first
// chunk that changed it (a later chunk of the same job finds the record
// last changed by its job, and keeps nothing), so the version kept is the
// one from before the job. Unless another job changed the record between
// two chunks of the job: then both keep it, and Revert Import refuses.
package changes

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/bindery/bindery/pkg/pgbulk"
)

// Version is a record as it was before an import changed it.
type Version struct {
	RecordID int64
	Version  int    // records.version then
	MARC     []byte // records.marc then
}

// Chunk is what one chunk of an import changed.
type Chunk struct {
	JobID   int64
	Seq     int
	Created []int64
	Changed []Version
}

// Empty says there is nothing to keep.
func (c *Chunk) Empty() bool { return len(c.Created) == 0 && len(c.Changed) == 0 }

// codecS2: the versions' MARC, concatenated, compressed with S2 by the
// worker. PostgreSQL's cost is per byte stored (see migration 0017); a
// row per version cost a merge-heavy import a sixth of its database CPU.
const codecS2 = "s2"

// Write inserts the chunk's row, in the chunk's transaction.
func Write(ctx context.Context, tx pgx.Tx, c *Chunk) error {
	ids := make([]int64, len(c.Changed))
	versions := make([]int32, len(c.Changed))
	lengths := make([]int32, len(c.Changed))
	var size int
	for _, v := range c.Changed {
		size += len(v.MARC)
	}
	all := make([]byte, 0, size)
	for i, v := range c.Changed {
		ids[i], versions[i], lengths[i] = v.RecordID, int32(v.Version), int32(len(v.MARC))
		all = append(all, v.MARC...)
	}
	created := c.Created
	if created == nil {
		created = []int64{}
	}
	_, err := pgbulk.Exec(ctx, tx, `INSERT INTO import_changes (job_id, chunk_seq, created, changed, versions, lengths, codec, marc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.JobID, c.Seq, created, ids, versions, lengths, codecS2, s2.Encode(nil, all))
	if err != nil {
		return fmt.Errorf("keep the previous versions: %w", err)
	}
	return nil
}

// Querier is a pool, connection or transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadJob returns the job's rows, in chunk order.
func ReadJob(ctx context.Context, q Querier, jobID int64) ([]*Chunk, error) {
	return read(ctx, q, jobID, `WHERE job_id = $1 ORDER BY chunk_seq`, jobID)
}

// ReadChunk returns the row of the job's chunk seq, or nil when it has
// none. (Rows carried over from before migration 0019 have negative seqs.)
func ReadChunk(ctx context.Context, q Querier, jobID int64, seq int) (*Chunk, error) {
	rows, err := read(ctx, q, jobID, `WHERE job_id = $1 AND chunk_seq = $2`, jobID, seq)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

func read(ctx context.Context, q Querier, jobID int64, where string, args ...any) ([]*Chunk, error) {
	rows, err := q.Query(ctx, `SELECT chunk_seq, created, changed, versions, lengths, coalesce(codec, ''), marc
		FROM import_changes `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Chunk
	for rows.Next() {
		c := &Chunk{JobID: jobID}
		var ids []int64
		var versions, lengths []int32
		var codec string
		var packed []byte
		if err := rows.Scan(&c.Seq, &c.Created, &ids, &versions, &lengths, &codec, &packed); err != nil {
			return nil, err
		}
		if err := c.unpack(ids, versions, lengths, codec, packed); err != nil {
			return nil, fmt.Errorf("import_changes of job %d, chunk %d: %w", jobID, c.Seq, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (c *Chunk) unpack(ids []int64, versions, lengths []int32, codec string, packed []byte) error {
	all := packed
	switch codec {
	case "":
	case codecS2:
		var err error
		if all, err = s2.Decode(nil, packed); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown codec %q", codec)
	}
	if len(versions) != len(ids) || len(lengths) != len(ids) {
		return errors.New("changed, versions and lengths differ in length")
	}
	c.Changed = make([]Version, len(ids))
	for i, id := range ids {
		n := int(lengths[i])
		if n < 0 || n > len(all) {
			return fmt.Errorf("record %d: %d bytes, %d left", id, n, len(all))
		}
		c.Changed[i] = Version{RecordID: id, Version: int(versions[i]), MARC: all[:n:n]}
		all = all[n:]
	}
	if len(all) > 0 {
		return fmt.Errorf("%d bytes after the last version", len(all))
	}
	return nil
}
