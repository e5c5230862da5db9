// Package sets keeps sets of catalog records, physical items or users that
// jobs run on: itemized sets (a list of ids uploaded with a header line that
// names their kind) and logical sets (a saved query, pkg/sets/query, run
// again whenever a job takes its snapshot).
//
// A job that runs on a set calls Snapshot when it plans: the set's members as
// they are then are copied to job_set_members (ord 1..n), and the job works
// on that copy whatever happens to the set or the catalog meanwhile. The
// job's Cleanup calls DropSnapshot.
package sets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
)

// Content types: what a set's members are.
const (
	ContentBib       = "bib"       // bibliographic records (records.id, the MMS id)
	ContentAuthority = "authority" // authority records (records.id)
	ContentItem      = "item"      // physical items (items.id; uploaded by barcode)
	ContentUser      = "user"      // users (users.id; uploaded by primary id)
	ContentPOLine    = "po_line"   // PO lines: Bindery holds no order data yet
)

// ContentTypes lists every content type.
var ContentTypes = []string{ContentBib, ContentAuthority, ContentItem, ContentUser, ContentPOLine}

// Set kinds.
const (
	Itemized = "itemized"
	Logical  = "logical"
)

// Set is one set. Members and Problems are filled by Get for itemized sets;
// a logical set's members exist only when its query runs.
type Set struct {
	ID          int64  `json:"id"`
	Institution string `json:"institution"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	ContentType string `json:"content_type"`
	IDKind      string `json:"id_kind,omitempty"`
	Query       string `json:"query,omitempty"`
	// TimeZone is where a logical set's dates are days.
	TimeZone    string    `json:"time_zone,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
	// Members is the number of members: for itemized sets as uploaded, for
	// logical sets when counted (nil when not).
	Members *int64 `json:"members,omitempty"`
	// ProblemCount is the number of uploaded lines that did not become
	// members; Problems lists the first MaxProblemsShown of them.
	ProblemCount int64     `json:"problem_count"`
	Problems     []Problem `json:"problems,omitempty"`
}

// Problem is one uploaded line that did not become a member, and why.
type Problem struct {
	Line    int64  `json:"line"`
	Value   string `json:"value"`
	Problem string `json:"problem"`
}

// MaxProblemsShown is how many problems Get returns with a set.
const MaxProblemsShown = 1000

// Errors.
var (
	ErrNotFound  = errors.New("set not found")
	ErrNameTaken = errors.New("a set with this name already exists")
)

// InputError is a refused request (a bad file, query or name): Msg says
// what and where.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// InUseError refuses deleting a set an unfinished job runs on.
type InUseError struct {
	SetID  int64
	JobID  int64
	Type   string
	Status string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("set %d is in use by job %d (%s, %s); delete it when that job has ended", e.SetID, e.JobID, e.Type, e.Status)
}

// DB is what the package needs of a pool or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Pool is a connection pool (*pgxpool.Pool): queries and transactions.
type Pool interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}

const setColumns = `id, institution, name, kind, content_type, id_kind, query, time_zone, description, created_by, created_at`

func scanSet(row pgx.Row) (*Set, error) {
	var s Set
	err := row.Scan(&s.ID, &s.Institution, &s.Name, &s.Kind, &s.ContentType, &s.IDKind, &s.Query, &s.TimeZone, &s.Description, &s.CreatedBy, &s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return &s, err
}

// Get returns an institution's set: ErrNotFound when there is no such set
// or it is another institution's. Itemized sets come with their member
// count and the first problems of their upload.
func Get(ctx context.Context, q DB, institution string, setID int64) (Set, error) {
	s, err := scanSet(q.QueryRow(ctx, `SELECT `+setColumns+` FROM sets WHERE id = $1 AND institution = $2`, setID, institution))
	if err != nil {
		return Set{}, err
	}
	if err := fillItemized(ctx, q, s); err != nil {
		return Set{}, err
	}
	if s.Kind == Itemized {
		rows, err := q.Query(ctx, `SELECT line, value, problem FROM set_problems WHERE set_id = $1 ORDER BY line LIMIT $2`, s.ID, MaxProblemsShown)
		if err != nil {
			return Set{}, err
		}
		s.Problems, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Problem, error) {
			var p Problem
			return p, r.Scan(&p.Line, &p.Value, &p.Problem)
		})
		if err != nil {
			return Set{}, err
		}
	}
	return *s, nil
}

// fillItemized counts the members and problems of itemized sets.
func fillItemized(ctx context.Context, q DB, list ...*Set) error {
	var ids []int64
	byID := map[int64]*Set{}
	for _, s := range list {
		if s.Kind == Itemized {
			ids = append(ids, s.ID)
			byID[s.ID] = s
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT s.id,
			(SELECT count(*) FROM set_members m WHERE m.set_id = s.id),
			(SELECT count(*) FROM set_problems p WHERE p.set_id = s.id)
		FROM unnest($1::bigint[]) AS s(id)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, members, problems int64
		if err := rows.Scan(&id, &members, &problems); err != nil {
			return err
		}
		byID[id].Members, byID[id].ProblemCount = &members, problems
	}
	return rows.Err()
}

// List returns the sets of the institutions, by id.
func List(ctx context.Context, q DB, institutions []string) ([]*Set, error) {
	rows, err := q.Query(ctx, `SELECT `+setColumns+` FROM sets WHERE institution = ANY($1) ORDER BY id`, institutions)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Set, error) { return scanSet(r) })
	if err != nil {
		return nil, err
	}
	return list, fillItemized(ctx, q, list...)
}

// Delete removes an institution's set, refusing (*InUseError) while an
// unfinished job was submitted to run on it.
func Delete(ctx context.Context, pool Pool, institution string, setID int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM sets WHERE id = $1 AND institution = $2 FOR UPDATE`, setID, institution).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		// CheckSubmit holds a key-share lock on the set while it inserts a
		// job on it, so a job is either seen here or refused at submit.
		var ie InUseError
		err = tx.QueryRow(ctx, `SELECT id, type, status FROM jobs
			WHERE institution = $1 AND params->>'set' = $2 AND status <> ALL($3) ORDER BY id LIMIT 1`,
			institution, strconv.FormatInt(setID, 10), terminalStatuses).Scan(&ie.JobID, &ie.Type, &ie.Status)
		if err == nil {
			ie.SetID = setID
			return &ie
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		for _, sql := range []string{`DELETE FROM set_members WHERE set_id = $1`,
			`DELETE FROM set_problems WHERE set_id = $1`, `DELETE FROM sets WHERE id = $1`} {
			if _, err := tx.Exec(ctx, sql, setID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DropSnapshot removes a job's snapshot (a job type's Cleanup calls it when
// the job ends).
func DropSnapshot(ctx context.Context, tx pgx.Tx, jobID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM job_set_members WHERE job_id = $1`, jobID)
	return err
}

// PlanJob is the Plan of a job type that runs on a set: it takes the
// snapshot of the set named by the job's "set" parameter (Snapshot) and
// writes the chunk ledger over the snapshot's ords, so a chunk's key range
// [Lo, Hi] is a range of ords (ChunkMembers reads it). It returns the
// number of members; none makes the job COMPLETED_NO_BULKS.
func PlanJob(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) (int64, error) {
	setID, err := job.IntParam(config.SetParam)
	if err != nil {
		return 0, err
	}
	n, err := Snapshot(ctx, tx, job.Institution, setID, job.ID)
	if errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("set %d of institution %s no longer exists", setID, job.Institution)
	}
	if err != nil {
		return 0, err
	}
	return n, jobs.PlanRanges(ctx, tx, job.ID, chunkSize, `SELECT ord AS key FROM job_set_members WHERE job_id = $1`, job.ID)
}

// ChunkMembers returns the member ids of a chunk planned by PlanJob (the
// ords Lo..Hi of the job's snapshot), in ord order.
func ChunkMembers(ctx context.Context, q DB, c jobs.Chunk) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT member_id FROM job_set_members WHERE job_id = $1 AND ord BETWEEN $2 AND $3 ORDER BY ord`, c.JobID, c.Lo, c.Hi)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
