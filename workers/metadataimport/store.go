package metadataimport

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/changes"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/pgbulk"
)

// The chunk's reads and writes of the catalog.

var (
	// errRaced: another transaction created a record with a match key this
	// chunk was creating one with, and committed it. Deciding again finds it.
	errRaced = errors.New("another transaction created a record with one of these match keys")
	// errChanged: a record the chunk merges into or overlays was changed by
	// another transaction after the chunk read it.
	errChanged = errors.New("a candidate record changed after it was read")
	// errDeadlocked: the chunk's writes and another transaction's waited
	// for each other (two chunks updating the same records, each locking
	// them in its own plan's order) and PostgreSQL cancelled the chunk's.
	// Deciding again on candidates read FOR UPDATE, in id order, takes
	// the locks first.
	errDeadlocked = errors.New("deadlocked with another transaction writing the same records")
)

// maxAttempts bounds the decisions of a chunk that keeps losing races to
// create records (each lost race means another chunk created one of its
// records, so it is never reached in practice); the chunk then fails and
// is retried.
const maxAttempts = 10

// matches is what the match keys of a chunk's records find in the catalog.
type matches struct {
	// found: the records holding each key looked up (of any record type,
	// deleted ones too: the candidates read, targets, are the live ones of
	// the profile's record type).
	found map[catalog.Key][]int64
	// looked: the keys looked up.
	looked map[catalog.Key]bool
	// claimed: keys a record of the profile's record type has claimed.
	claimed map[catalog.Key]bool
	targets map[int64]*target
}

// claimable says whether a new record may claim k: the key was looked up,
// and no live record of the profile's type holds it, and no record (live or
// not: one deleted outside an import's revert keeps its keys) holds its
// claim.
func (m *matches) claimable(k catalog.Key) bool {
	if !m.looked[k] || m.claimed[k] {
		return false
	}
	return !slices.ContainsFunc(m.found[k], func(id int64) bool { return m.targets[id] != nil })
}

// match looks the chunk's records up by the profile's match methods in
// turn, one query per method, and reads the candidates found: a method's
// keys are looked up only for the records that no earlier method matched
// with a live record (a reload of the catalog's own records costs one
// lookup per record, not one per method).
func match(ctx context.Context, tx pgx.Tx, institution string, p *config.ImportProfile, items []*item, lock bool) (*matches, error) {
	m := &matches{found: map[catalog.Key][]int64{}, looked: map[catalog.Key]bool{},
		claimed: map[catalog.Key]bool{}, targets: map[int64]*target{}}
	var pending []*item
	for _, it := range items {
		if !it.invalid {
			pending = append(pending, it)
		}
	}
	for _, method := range p.Match {
		var kinds, values []string
		for _, it := range pending {
			for _, k := range it.keys {
				if k.Kind == method && !m.looked[k] {
					m.looked[k] = true
					kinds, values = append(kinds, k.Kind), append(values, k.Value)
				}
			}
		}
		if len(kinds) == 0 {
			continue
		}
		ids, err := lookup(ctx, tx, institution, p.RecordType, kinds, values, m)
		if err != nil {
			return nil, err
		}
		if err := loadCandidates(ctx, tx, institution, p.RecordType, ids, lock, m.targets); err != nil {
			return nil, err
		}
		pending = slices.DeleteFunc(pending, func(it *item) bool {
			return slices.ContainsFunc(it.keys, func(k catalog.Key) bool {
				return k.Kind == method && slices.ContainsFunc(m.found[k], func(id int64) bool { return m.targets[id] != nil })
			})
		})
	}
	return m, nil
}

// lookup finds the records holding the given keys, notes them in m, and
// returns the ids m did not know yet.
func lookup(ctx context.Context, tx pgx.Tx, institution, recordType string, kinds, values []string, m *matches) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT q.kind, q.value, k.record_id, k.claimed_for IS NOT DISTINCT FROM $4
		FROM unnest($2::text[], $3::text[]) AS q(kind, value)
		JOIN record_keys k ON record_key(k.institution, k.kind, k.value) = record_key($1, q.kind, q.value)`,
		institution, kinds, values, recordType)
	if err != nil {
		return nil, fmt.Errorf("match lookup: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var k catalog.Key
		var id int64
		var claimed bool
		if err := rows.Scan(&k.Kind, &k.Value, &id, &claimed); err != nil {
			return nil, err
		}
		if claimed {
			m.claimed[k] = true
		}
		if !slices.Contains(m.found[k], id) {
			m.found[k] = append(m.found[k], id)
			slices.Sort(m.found[k]) // candidates in id order, whatever the index's
		}
		if _, known := m.targets[id]; !known {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// loadCandidates reads the live records of recordType among ids into
// targets, with the job that last changed each. With lock it reads them
// FOR UPDATE, in id order so concurrent chunks cannot deadlock.
func loadCandidates(ctx context.Context, tx pgx.Tx, institution, recordType string, ids []int64, lock bool, targets map[int64]*target) error {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	q := `SELECT id, marc, version, coalesce(job_id, 0) FROM records
		WHERE id = ANY($1) AND institution = $2 AND record_type = $3 AND NOT deleted ORDER BY id`
	if lock {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, ids, institution, recordType)
	if err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t := &target{}
		if err := rows.Scan(&t.id, &t.origMarc, &t.version, &t.lastJob); err != nil {
			return err
		}
		targets[t.id] = t
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if targets[id] == nil {
			targets[id] = nil // known, not a candidate
		}
	}
	return nil
}

// write stores the chunk's effect under a savepoint: new records (with ids
// from the sequence) and their keys, the changed records and their changed
// keys, and what the chunk changed (pkg/changes: the ids it created, the
// versions it replaced). It returns errRaced, errChanged or errDeadlocked,
// with the savepoint rolled back, when the decisions must be made again.
//
// Races to create a record: a new record's match keys (of the profile's
// methods, found nowhere in the catalog) are written claimed
// (record_keys.claimed_for, migration 0015), and the unique index allows one
// claim per key. A concurrent chunk creating a record with the same key
// waits for this transaction and then fails with a unique violation: the
// race is lost only where two transactions create records sharing a key,
// and costs nothing otherwise. Why not the alternatives: an advisory lock
// per key needs a lock-table entry per key (thousands per chunk: "out of
// shared memory" at default settings), bucketing keys into few locks
// serializes every chunk that creates records, and a unique index on all of
// record_keys would make 001 unique per institution, which catalogs do not
// promise (import_new on multiple matches, profiles that do not match on
// 001).
func write(ctx context.Context, tx pgx.Tx, job *jobs.Job, seq int, p *config.ImportProfile, items []*item, m *matches) error {
	var news, changed []*target
	seen := map[*target]bool{}
	for _, it := range items {
		t := it.target
		if t == nil || !t.changed || seen[t] {
			continue
		}
		seen[t] = true
		if t.isNew {
			news = append(news, t)
		} else {
			changed = append(changed, t)
		}
	}
	if len(news) == 0 && len(changed) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, tx, func(tx pgx.Tx) error {
		if err := assignIDs(ctx, tx, news); err != nil {
			return err
		}
		// Keys first: a lost race is found before the big writes.
		if err := writeKeys(ctx, tx, job.Institution, p, news, changed, m); err != nil {
			return err
		}
		if err := updateChanged(ctx, tx, job, p, changed); err != nil {
			return err
		}
		if err := insertNew(ctx, tx, job, p, news); err != nil {
			return err
		}
		return keepChanges(ctx, tx, job, seq, news, changed)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "record_keys_claim" {
		return errRaced
	}
	if errors.As(err, &pe) && pe.Code == "40P01" {
		return errDeadlocked
	}
	return err
}

func assignIDs(ctx context.Context, tx pgx.Tx, news []*target) error {
	if len(news) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, len(news))
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	for i, t := range news {
		t.id = ids[i]
	}
	return nil
}

// keyRow is a row of record_keys to write; claimedFor is nil or the record
// type that claims the key.
type keyRow struct {
	id         int64
	k          catalog.Key
	claimedFor *string
}

// writeKeys inserts the keys of new records (claiming those of the
// profile's match methods that no live record holds) and the keys that
// changed records gained, and deletes those they lost: a record's key rows
// are the keys of its stored MARC (migration 0018), so a merge or overlay
// rewrites only the keys that change (usually none: a reload keeps its
// numbers).
func writeKeys(ctx context.Context, tx pgx.Tx, institution string, p *config.ImportProfile, news, changed []*target, m *matches) error {
	var rows []keyRow
	claimed := map[catalog.Key]bool{}
	for _, t := range news {
		for _, k := range t.keys {
			r := keyRow{id: t.id, k: k}
			// Records made beside their matches (import_new) and later
			// records of this chunk with the same key hold it unclaimed.
			if !claimed[k] && m.claimable(k) {
				claimed[k] = true
				r.claimedFor = &p.RecordType
			}
			rows = append(rows, r)
		}
	}
	var delIDs []int64
	var delKinds, delValues []string
	for _, t := range changed {
		stored, err := t.storedKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range t.keys {
			if !slices.Contains(stored, k) {
				rows = append(rows, keyRow{id: t.id, k: k})
			}
		}
		for _, k := range stored {
			if !slices.Contains(t.keys, k) {
				delIDs, delKinds, delValues = append(delIDs, t.id), append(delKinds, k.Kind), append(delValues, k.Value)
			}
		}
	}
	if len(delIDs) > 0 {
		_, err := tx.Exec(ctx, `DELETE FROM record_keys k USING unnest($1::bigint[], $2::text[], $3::text[]) AS d(id, kind, value)
			WHERE record_key(k.institution, k.kind, k.value) = record_key($4, d.kind, d.value) AND k.record_id = d.id`, delIDs, delKinds, delValues, institution)
		if err != nil {
			return fmt.Errorf("update keys: %w", err)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	data := pgbulk.NewRows(len(rows) * (40 + len(institution)))
	for _, r := range rows {
		data.Row(5)
		data.Int8(r.id)
		data.Text(institution)
		data.Text(r.k.Kind)
		data.Text(r.k.Value)
		if r.claimedFor != nil {
			data.Text(*r.claimedFor)
		} else {
			data.Null()
		}
	}
	_, err := pgbulk.Copy(ctx, tx, "record_keys", []string{"record_id", "institution", "kind", "value", "claimed_for"}, data)
	if err != nil {
		return fmt.Errorf("insert keys: %w", err)
	}
	return nil
}

// updateChanged writes the merged and overlaid records, each only if it is
// still the version the chunk read (errChanged otherwise).
func updateChanged(ctx context.Context, tx pgx.Tx, job *jobs.Job, p *config.ImportProfile, changed []*target) error {
	if len(changed) == 0 {
		return nil
	}
	ids := make([]int64, len(changed))
	versions := make([]int32, len(changed))
	marcs := make([][]byte, len(changed))
	titles := make([]string, len(changed))
	for i, t := range changed {
		ids[i], versions[i], marcs[i], titles[i] = t.id, int32(t.version), t.marc(), t.title
	}
	// change_xid is set here, so the records_touch trigger skips these rows.
	tag, err := pgbulk.Exec(ctx, tx, `UPDATE records r SET marc = u.marc, title = u.title, version = r.version + 1,
			updated_at = now(), job_id = $5, change_xid = pg_current_xact_id()
		FROM unnest($1::bigint[], $2::int[], $3::bytea[], $4::text[]) AS u(id, version, marc, title)
		WHERE r.id = u.id AND r.version = u.version AND NOT r.deleted`,
		ids, versions, marcs, titles, job.ID)
	if err != nil {
		return fmt.Errorf("update records: %w", err)
	}
	if tag.RowsAffected() != int64(len(changed)) {
		return errChanged
	}
	return nil
}

// keepChanges keeps, for Revert Import, the records the chunk created and
// the versions it replaced: those of records not last changed by its own
// job (an earlier chunk of the job that changed or created one kept what
// came before; see pkg/changes).
func keepChanges(ctx context.Context, tx pgx.Tx, job *jobs.Job, seq int, news, changed []*target) error {
	c := &changes.Chunk{JobID: job.ID, Seq: seq}
	for _, t := range news {
		c.Created = append(c.Created, t.id)
	}
	for _, t := range changed {
		if t.lastJob != job.ID {
			c.Changed = append(c.Changed, changes.Version{RecordID: t.id, Version: t.version, MARC: t.origMarc})
		}
	}
	if c.Empty() {
		return nil
	}
	return changes.Write(ctx, tx, c)
}

func insertNew(ctx context.Context, tx pgx.Tx, job *jobs.Job, p *config.ImportProfile, news []*target) error {
	if len(news) == 0 {
		return nil
	}
	size := 0
	for _, t := range news {
		size += len(t.marc()) + 200
	}
	data := pgbulk.NewRows(size)
	for _, t := range news {
		data.Row(7)
		data.Int8(t.id)
		data.Text(job.Institution)
		data.Text(p.RecordType)
		data.Bytes(t.marc())
		data.Text(t.title)
		data.Int8(job.ID)
		data.Int8(job.ID)
	}
	_, err := pgbulk.Copy(ctx, tx, "records", []string{"id", "institution", "record_type", "marc", "title", "job_id", "created_by_job"}, data)
	if err != nil {
		return fmt.Errorf("insert records: %w", err)
	}
	return nil
}
