// Package metadataimport is the Metadata Import job: it loads a MARC file,
// uploaded with the submission and staged in import_staging, into the
// catalog. Each record is validated, matched against the institution's
// records by the import profile's match methods in turn, and then imported
// as a new record, merged into or overlaid on its single match, skipped, or
// rejected with the reason. Every record a job changes keeps its previous
// version, in the job's import_changes (pkg/changes).
package metadataimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/catalog"
	"github.com/bindery/bindery/pkg/config"
	"github.com/bindery/bindery/pkg/jobs"
	"github.com/bindery/bindery/pkg/marc"
	"github.com/bindery/bindery/pkg/staging"
)

// TypeID is the job type's id in the catalog.
const TypeID = "metadata-import"

// Counter names. Every record of the file lands in exactly one of imported,
// merged, overlaid, skipped, multi_match and rejected.
const (
	RecordsInFile = "records_in_file"
	Imported      = "imported"
	Merged        = "merged"
	Overlaid      = "overlaid"
	Skipped       = "skipped"
	MultiMatch    = "multi_match"
	Rejected      = "rejected"
)

// Kind implements jobs.Kind.
type Kind struct{}

var _ jobs.Kind = Kind{}

// ErrStagingLost is a job whose staged records are gone: import_staging is
// unlogged (migration 0013), so a PostgreSQL crash empties it. The job fails
// (its chunks, or its initialization) rather than import part of the file
// silently; what committed chunks imported stays, and re-running the file
// with a matching profile completes it.
var ErrStagingLost = errors.New("the staged records of this file are gone (PostgreSQL restarted after a crash, and staging is not crash-safe): run the import again with the file")

// ErrNoFile is a metadata-import job submitted without its file.
var ErrNoFile = errors.New("no file was uploaded with this job: submit it with `bindery job run metadata-import --param profile=ID --file PATH`")

// Plan: the population is the staged records of the job's file, by
// ordinal, and each chunk is one staged group (cut at upload to the job
// type's chunk size, so chunkSize is not used here).
func (Kind) Plan(ctx context.Context, tx pgx.Tx, job *jobs.Job, chunkSize int) error {
	var records, staged int64
	err := tx.QueryRow(ctx, `SELECT records, (SELECT coalesce(sum(records), 0) FROM import_staging WHERE job_id = $1)
		FROM import_files WHERE job_id = $1`, job.ID).Scan(&records, &staged)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoFile
	}
	if err != nil {
		return err
	}
	if staged != records {
		return fmt.Errorf("%d of %d records staged: %w", staged, records, ErrStagingLost)
	}
	_, err = jobs.PlanChunks(ctx, tx, job.ID, `SELECT first_ord AS lo, first_ord + records - 1 AS hi, records
		FROM import_staging WHERE job_id = $1`, job.ID)
	return err
}

// loadProfile returns the profile the job was submitted with.
func loadProfile(ctx context.Context, tx pgx.Tx, jobID int64) (*config.ImportProfile, error) {
	var raw []byte
	err := tx.QueryRow(ctx, `SELECT profile FROM import_files WHERE job_id = $1`, jobID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoFile
	}
	if err != nil {
		return nil, err
	}
	var p config.ImportProfile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("job %d: import profile: %w", jobID, err)
	}
	return &p, nil
}

// item is one staged record on its way through the chunk.
type item struct {
	ord      int64
	cn       string        // incoming 001
	rec      *marc.Skimmed // the incoming record as it would be stored (see readStaged)
	title    string        // of rec (see title)
	keys     []catalog.Key
	warnings string
	invalid  bool     // rejected as read: unreadable or invalid
	diff     []string // dry run: what a merge or overlay would change
	noKey    bool     // imported with no key of the profile's match methods

	counter    string // one of the counters above
	outcome    string // report outcome
	reason     string // rejected, skipped: why
	method     string // the match method that found the candidates
	candidates []*target
	target     *target // the record it created, merged into or overlaid
}

// target is a catalog record the chunk reads or writes.
type target struct {
	id       int64 // 0 until a new record gets its id
	isNew    bool
	changed  bool
	version  int           // as loaded
	lastJob  int64         // the job that last changed it, as loaded (records.job_id)
	origMarc []byte        // as loaded, the version a merge or overlay replaces
	rec      *marc.Skimmed // current; nil for a candidate as loaded (see marc)
	title    string        // of rec, when changed
	keys     []catalog.Key
	stored   []catalog.Key // its rows in record_keys: the keys of origMarc (see storedKeys)
}

// storedKeys are the record's rows in record_keys (catalog.StoredKeys of
// its MARC as loaded), read once.
func (t *target) storedKeys(ctx context.Context, tx pgx.Tx) ([]catalog.Key, error) {
	if t.stored == nil {
		stored, err := catalog.StoredKeys(ctx, tx, t.id, t.origMarc)
		if err != nil {
			return nil, err
		}
		t.stored = stored
	}
	return t.stored, nil
}

// Process imports the chunk's records: one read of the staged records, a
// lookup and a read of the candidates per match method (see match), the
// decisions in memory, then bulk writes (COPY for new records and keys, one
// UPDATE for changed records, one row of what the chunk changed).
// Everything is in the chunk's transaction.
//
// The candidates are read without locks: the UPDATE of a merged or overlaid
// record names the version it was decided on, and if another transaction
// changed one in between, or the UPDATE deadlocked with another writer of
// the same records (each locking them in its own plan's order), the chunk
// decides again on candidates read FOR UPDATE, in id order. A chunk that
// loses a race to create a record with the same match key (see write)
// decides again with that record in the catalog.
func (Kind) Process(ctx context.Context, tx pgx.Tx, job *jobs.Job, c jobs.Chunk, res *jobs.ChunkResult) error {
	// Plan each statement for its arguments: a prepared statement's cached
	// generic plan, made while the catalog was small (a first load into an
	// empty one), kept scanning record_keys whole for every lookup as the
	// catalog grew (and the arrays' sizes are unknown to it).
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
		return err
	}
	p, err := loadProfile(ctx, tx, job.ID)
	if err != nil {
		return err
	}
	dryRun, _ := job.Params["dry_run"].(bool)
	// The catalog's records (UTF-8) decode with their own decoder.
	dec := &marc.Decoder{}
	items, err := readStaged(ctx, tx, job.ID, c, p)
	if err != nil {
		return err
	}
	locked := false
	for attempt := 1; ; attempt++ {
		m, err := match(ctx, tx, job.Institution, p, items, locked)
		if err != nil {
			return err
		}
		created := map[catalog.Key][]*target{} // keys of records this chunk creates
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return err
			}
			if it.invalid {
				continue
			}
			it.undecide()
			decide(it, p, m.found, m.targets, created, dryRun, dec)
		}
		if dryRun {
			break
		}
		err = write(ctx, tx, job, c.Seq, p, items, m)
		switch {
		case err == nil:
		case (errors.Is(err, errChanged) || errors.Is(err, errDeadlocked)) && !locked:
			locked = true
			continue
		case (errors.Is(err, errRaced) || errors.Is(err, errDeadlocked)) && attempt < maxAttempts:
			continue
		default:
			return err
		}
		break
	}
	for _, it := range items {
		res.Count(RecordsInFile, 1)
		res.Count(it.counter, 1)
		res.Report(recordID(it), it.outcome, message(it, p, dryRun))
	}
	return nil
}

// readStaged reads the chunk's staged group and decodes its records with
// the encoding they were staged in. A missing group, or one that does not
// hold the chunk's records, is ErrStagingLost.
func readStaged(ctx context.Context, tx pgx.Tx, jobID int64, c jobs.Chunk, p *config.ImportProfile) ([]*item, error) {
	var count int
	var raw, notes []byte
	var codec, encoding string
	err := tx.QueryRow(ctx, `SELECT s.records, coalesce(s.codec, ''), s.raw, s.notes, f.raw_encoding
		FROM import_staging s JOIN import_files f USING (job_id)
		WHERE s.job_id = $1 AND s.first_ord = $2`, jobID, c.Lo).Scan(&count, &codec, &raw, &notes, &encoding)
	lost := func(err error) error {
		return fmt.Errorf("chunk %d: %w: %w", c.Seq, err, errors.Join(ErrStagingLost, asynq.SkipRetry))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, lost(fmt.Errorf("0 of its %d records staged", c.Records))
	}
	if err != nil {
		return nil, err
	}
	if count != c.Records || c.Hi != c.Lo+int64(count)-1 {
		return nil, lost(fmt.Errorf("staged group of %d records", count))
	}
	staged, err := staging.Split(c.Lo, count, codec, raw, notes)
	if err != nil {
		return nil, lost(err)
	}
	enc, err := marc.ParseEncoding(encoding)
	if err != nil {
		return nil, err
	}
	// Not the chunk's decoder (which reads catalog records, UTF-8): the
	// file's records decode with the encoding they were staged in.
	dec, err := marc.NewDecoder(&marc.BinaryReaderOptions{Encoding: enc})
	if err != nil {
		return nil, err
	}
	items := make([]*item, len(staged))
	for i, s := range staged {
		it := &item{ord: s.Ord}
		items[i] = it
		rec, whole, err := skimStaged(dec, s)
		if err != nil {
			it.reject("unreadable: " + err.Error())
			it.invalid = true
			continue
		}
		if whole != nil { // not canonical as read: stored as Marshal writes it
			it.cn = strings.TrimSpace(whole.ControlNumber())
			it.warnings = warnings(s.Warnings, whole.Warnings)
			if rec, err = marc.SkimOf(whole, catalog.ReadsTag); err != nil {
				it.reject("unreadable: cannot be stored: " + err.Error())
				it.invalid = true
				continue
			}
		}
		it.rec, it.cn = rec, strings.TrimSpace(rec.Partial.ControlNumber())
		if reason := invalid(rec.Partial, p.RecordType); reason != "" {
			it.reject(reason)
			it.invalid = true
			continue
		}
		it.keys = catalog.Keys(rec.Partial)
		it.title = title(rec.Partial, p.RecordType)
	}
	return items, nil
}

// skimStaged decodes one staged record skimmed for what the catalog reads
// of it (keys, title; see marc.Decoder.Skim), or says why it cannot be: a
// record that is not canonical as read is returned whole instead, to be
// stored as Marshal writes it (records.marc is normalized UTF-8 ISO 2709
// whatever the file was).
func skimStaged(dec *marc.Decoder, s staging.Record) (*marc.Skimmed, *marc.Record, error) {
	if s.Error != "" {
		return nil, nil, errors.New(s.Error)
	}
	return dec.Skim(s.Raw, catalog.ReadsTag)
}

// warnings joins a record's warnings, as read and as decoded.
func warnings(read []string, decoded []error) string {
	ws := slices.Clone(read)
	for _, w := range decoded {
		ws = append(ws, w.Error())
	}
	return strings.Join(ws, "; ")
}

func (it *item) reject(reason string) {
	it.counter, it.outcome, it.reason = Rejected, jobs.OutcomeError, reason
}

// undecide forgets a previous decision on a valid record.
func (it *item) undecide() {
	it.counter, it.outcome, it.reason, it.method, it.candidates, it.target, it.diff, it.noKey = "", "", "", "", nil, nil, nil, false
}

// invalid says why a record may not be imported as recordType, or "".
func invalid(rec *marc.Record, recordType string) string {
	switch recordType {
	case "bib":
		if f := rec.FirstField("245"); f == nil || len(f.Subfields) == 0 {
			return "invalid: no 245 (title) field"
		}
	case "authority":
		if catalog.Heading(rec) == "" {
			return "invalid: no 1XX (heading) field"
		}
	}
	return ""
}

// decide matches one record and applies the profile's action in memory;
// with diff, it keeps the field-level change of a merge or overlay.
func decide(it *item, p *config.ImportProfile, found map[catalog.Key][]int64, targets map[int64]*target, created map[catalog.Key][]*target, diff bool, dec *marc.Decoder) {
	var cands []*target
	for _, m := range p.Match {
		for _, k := range it.keys {
			if k.Kind != m {
				continue
			}
			for _, id := range found[k] {
				if t := targets[id]; t != nil && !slices.Contains(cands, t) {
					cands = append(cands, t)
				}
			}
			for _, t := range created[k] {
				if !slices.Contains(cands, t) {
					cands = append(cands, t)
				}
			}
		}
		if len(cands) > 0 {
			it.method = m
			break
		}
	}
	it.candidates = cands
	switch {
	case len(cands) == 0 && p.OnNoMatch == "reject":
		it.reject("no match (on_no_match: reject)")
	case len(cands) == 0, len(cands) > 1 && p.OnMultipleMatches == "import_new":
		t := &target{isNew: true, changed: true, rec: it.rec, title: it.title, keys: it.keys}
		for _, k := range it.keys {
			created[k] = append(created[k], t)
		}
		it.target, it.counter, it.outcome = t, Imported, jobs.OutcomeSuccess
		if !slices.ContainsFunc(it.keys, func(k catalog.Key) bool { return slices.Contains(p.Match, k.Kind) }) {
			// Nothing will ever match it: every run of this file imports it again.
			it.noKey, it.outcome = true, jobs.OutcomeWarning
		}
	case len(cands) > 1:
		it.counter, it.outcome = MultiMatch, jobs.OutcomeWarning
	case p.OnSingleMatch == "skip":
		it.target, it.counter, it.outcome = cands[0], Skipped, jobs.OutcomeSkipped
	case p.OnSingleMatch == "overlay":
		t := cands[0]
		if t.rec == nil { // as stored: its keys are its key rows (storedKeys)
			if stored, err := t.skim(dec); err == nil {
				t.stored = catalog.Keys(stored.Partial)
			}
		}
		if diff {
			it.diff = fieldDiff(dec, t.marc(), it.rec.Bytes)
		}
		t.rec, t.title, t.keys, t.changed = it.rec, it.title, it.keys, true
		it.target, it.counter, it.outcome = t, Overlaid, jobs.OutcomeSuccess
	default: // merge
		t := cands[0]
		if t.rec == nil {
			existing, err := t.skim(dec)
			if err != nil {
				it.reject(fmt.Sprintf("cannot merge: the catalog record %d is unreadable: %v", t.id, err))
				return
			}
			t.rec, t.stored = existing, catalog.Keys(existing.Partial)
		}
		// Field by field, on the records' bytes: about half the CPU of
		// decoding both whole and encoding the result (BenchmarkSplice).
		merged, err := catalog.MergeSkimmed(t.rec, it.rec, p.Merge)
		if err != nil {
			it.reject(fmt.Sprintf("cannot merge into %d: %v", t.id, err))
			return
		}
		if diff {
			it.diff = fieldDiff(dec, t.marc(), merged.Bytes)
		}
		t.rec, t.title, t.keys, t.changed = merged, title(merged.Partial, p.RecordType), catalog.Keys(merged.Partial), true
		it.target, it.counter, it.outcome = t, Merged, jobs.OutcomeSuccess
	}
}

// marc is the record's current MARC: as created, merged or overlaid in
// this chunk, else as loaded.
func (t *target) marc() []byte {
	if t.rec != nil {
		return t.rec.Bytes
	}
	return t.origMarc
}

// skim skims the candidate's MARC as loaded (t.rec is nil) for
// catalog.ReadsTag, as Marshal writes it if it is not canonical.
func (t *target) skim(dec *marc.Decoder) (*marc.Skimmed, error) {
	s, whole, err := dec.Skim(marc.RawRecord{Bytes: t.origMarc, Ordinal: 1}, catalog.ReadsTag)
	if whole != nil {
		return marc.SkimOf(whole, catalog.ReadsTag)
	}
	return s, err
}

// fieldDiff is a dry run's field-level diff of two records' MARC (both
// written by Marshal or canonical: they decode).
func fieldDiff(dec *marc.Decoder, from, to []byte) []string {
	before, err1 := dec.Unmarshal(from)
	after, err2 := dec.Unmarshal(to)
	if err1 != nil || err2 != nil {
		return nil
	}
	return catalog.Diff(before, after)
}

// title is a record's display title, or an authority's heading. It is
// taken while the record is still in the CPU's cache, just after it is
// decoded or merged: at write time, ~1 us a record went in cache misses.
func title(rec *marc.Record, recordType string) string {
	if recordType == "authority" {
		return catalog.Heading(rec)
	}
	return catalog.Title(rec)
}

// recordID is the report's record id: the ordinal in the file and the
// incoming 001 ("17:ocm12345"; "17" without a 001).
func recordID(it *item) string {
	id := strconv.FormatInt(it.ord, 10)
	if it.cn != "" {
		id += ":" + it.cn
	}
	return id
}

func ids(ts []*target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// String is the record's id, or what it is before it has one (dry run).
func (t *target) String() string {
	if t.id == 0 {
		return "a new record of this file"
	}
	return strconv.FormatInt(t.id, 10)
}

// maxDiff bounds the diff a report row carries.
const maxDiff = 2000

// diffText is a dry run's field-level diff for the report: "; fields:
// -245 10 $aOld | +245 10 $aNew", or "; no field changes".
func diffText(it *item, dryRun bool) string {
	if !dryRun {
		return ""
	}
	if len(it.diff) == 0 {
		return "; no field changes"
	}
	d := strings.Join(it.diff, " | ")
	if len(d) > maxDiff {
		d = strings.ToValidUTF8(d[:maxDiff], "") + fmt.Sprintf("… (%d field changes)", len(it.diff))
	}
	return "; fields: " + d
}

func message(it *item, p *config.ImportProfile, dryRun bool) string {
	var m string
	would := ""
	if dryRun {
		would = "would be "
	}
	switch it.counter {
	case Rejected:
		m = "rejected: " + it.reason
	case Imported:
		if dryRun {
			m = "would be imported as a new record"
		} else {
			m = "imported as " + it.target.String()
		}
		if len(it.candidates) > 1 {
			m += fmt.Sprintf(" (matched %s on %s; on_multiple_matches: import_new)", ids(it.candidates), it.method)
		}
		if it.noKey {
			m += fmt.Sprintf("; warning: no match key (%s) in this record, so a re-run of this file imports it again", strings.Join(p.Match, ", "))
		}
	case Merged:
		m = fmt.Sprintf("%smerged into %s (matched on %s)", would, it.target, it.method) + diffText(it, dryRun)
	case Overlaid:
		m = fmt.Sprintf("%soverlaid on %s (matched on %s)", would, it.target, it.method) + diffText(it, dryRun)
	case Skipped:
		m = fmt.Sprintf("matched %s on %s; skipped (on_single_match: skip)", it.target, it.method)
	case MultiMatch:
		m = fmt.Sprintf("matched %s on %s; skipped (on_multiple_matches: skip)", ids(it.candidates), it.method)
	}
	if it.warnings != "" && it.counter != Rejected {
		w := it.warnings
		if len(w) > 300 {
			w = w[:300] + "…"
		}
		m += "; recovered: " + w
	}
	return m
}
