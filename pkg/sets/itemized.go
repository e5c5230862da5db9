package sets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/bindery/bindery/pkg/jobs"
)

// ID kinds: the header line of an uploaded id file.
const (
	IDKindMMS     = "MMS ID"
	IDKindBarcode = "Barcode"
	IDKindUserID  = "User ID"
	IDKindPOLine  = "PO Line"
)

// idKinds maps a header, folded (lower case, without spaces, - and _), to
// its id kind.
var idKinds = map[string]string{
	"mmsid": IDKindMMS, "barcode": IDKindBarcode, "userid": IDKindUserID, "poline": IDKindPOLine,
}

// foldHeader is how a header line is compared: "MMS ID", "mms_id" and
// "MMSID" are one header.
func foldHeader(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\uFEFF")))
	return strings.NewReplacer(" ", "", "_", "", "-", "", "\t", "").Replace(s)
}

// NewSet is what creating a set needs.
type NewSet struct {
	Institution string `json:"-"`
	CreatedBy   string `json:"-"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// ContentType: for MMS ID files bib (default) or authority; for logical
	// sets bib (default) or authority. Other id kinds imply theirs.
	ContentType string `json:"content_type,omitempty"`
	// Query is a logical set's query.
	Query string `json:"query,omitempty"`
	// TimeZone is the institution's (IANA name): the query's dates are
	// days there. Empty means UTC.
	TimeZone string `json:"-"`
}

func (n *NewSet) validateName() error {
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" {
		return &InputError{"a set needs a name"}
	}
	if utf8.RuneCountInString(n.Name) > 200 {
		return &InputError{"a set's name is at most 200 characters"}
	}
	return nil
}

// maxLine is the longest line of an id file.
const maxLine = 4096

// CreateItemized creates an itemized set from an id file: a header line
// naming the id kind (MMS ID, Barcode, User ID; PO Line is refused, there
// is no order data yet), then one id per line. Blank lines are skipped.
// Every id is looked up in the institution's data: ids that are not found,
// are of another content type, are not well-formed or repeat an earlier
// line are kept as the set's problems (with their line numbers), not
// members. Everything is written in one transaction.
func CreateItemized(ctx context.Context, pool Pool, n NewSet, file io.Reader) (Set, error) {
	if err := n.validateName(); err != nil {
		return Set{}, err
	}
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	var line int64
	header := ""
	for header == "" && sc.Scan() {
		line++
		header = strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\uFEFF"))
	}
	if err := scanErr(sc, line+1); err != nil {
		return Set{}, err
	}
	if header == "" {
		return Set{}, &InputError{"the id file is empty: its first line must name the id kind (MMS ID, Barcode, User ID)"}
	}
	kind, ok := idKinds[foldHeader(header)]
	if !ok {
		return Set{}, &InputError{fmt.Sprintf("id file line %d: %q is not an id kind header; the first line must be one of: MMS ID, Barcode, User ID", line, header)}
	}
	content, err := contentOf(kind, n.ContentType)
	if err != nil {
		return Set{}, err
	}
	var id int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO sets (institution, name, kind, content_type, id_kind, description, created_by)
			VALUES ($1, $2, 'itemized', $3, $4, $5, $6) RETURNING id`,
			n.Institution, n.Name, content, kind, n.Description, n.CreatedBy).Scan(&id)
		if err != nil {
			return nameTaken(err)
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE set_upload (line bigint, value text, num bigint) ON COMMIT DROP`); err != nil {
			return err
		}
		var scanErrAt error
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"set_upload"}, []string{"line", "value", "num"},
			&lineSource{sc: sc, line: &line, err: &scanErrAt, numeric: kind == IDKindMMS})
		if scanErrAt != nil {
			return scanErrAt
		}
		if err != nil {
			return fmt.Errorf("stage id file: %w", err)
		}
		return resolve(ctx, tx, id, n.Institution, kind, content)
	})
	if err != nil {
		return Set{}, err
	}
	return Get(ctx, pool, n.Institution, id)
}

func scanErr(sc *bufio.Scanner, line int64) error {
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &InputError{fmt.Sprintf("id file line %d: longer than %d bytes; is this an id file?", line, maxLine)}
		}
		return fmt.Errorf("read id file: %w", err)
	}
	return nil
}

// contentOf is the content type of a set of ids of kind, checked against
// what the request asked for.
func contentOf(kind, asked string) (string, error) {
	switch kind {
	case IDKindMMS:
		switch asked {
		case "", ContentBib:
			return ContentBib, nil
		case ContentAuthority:
			return ContentAuthority, nil
		}
		return "", &InputError{fmt.Sprintf("a set of MMS IDs holds bib or authority records, not %q", asked)}
	case IDKindPOLine:
		return "", &InputError{"PO Line sets cannot be created: Bindery holds no purchase order data yet (there is no PO line table to check the ids against)"}
	}
	want := map[string]string{IDKindBarcode: ContentItem, IDKindUserID: ContentUser}[kind]
	if asked != "" && asked != want {
		return "", &InputError{fmt.Sprintf("a set of %ss holds %s, not %q", kind, want, asked)}
	}
	return want, nil
}

func nameTaken(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrNameTaken
	}
	return err
}

// lineSource feeds the id file's non-blank lines to COPY.
type lineSource struct {
	sc      *bufio.Scanner
	line    *int64
	value   string
	num     any // the value as a number (MMS ids), nil when it is not one
	numeric bool
	err     *error
}

func (s *lineSource) Next() bool {
	for s.sc.Scan() {
		*s.line++
		s.value = strings.TrimSpace(s.sc.Text())
		if s.value == "" {
			continue
		}
		if !utf8.ValidString(s.value) {
			s.value = strings.ToValidUTF8(s.value, "\uFFFD")
		}
		s.num = nil
		if s.numeric {
			if n, err := strconv.ParseInt(s.value, 10, 64); err == nil && n > 0 && s.value[0] != '+' {
				s.num = n
			}
		}
		return true
	}
	*s.err = scanErr(s.sc, *s.line+1)
	return false
}

func (s *lineSource) Values() ([]any, error) { return []any{*s.line, s.value, s.num}, nil }
func (s *lineSource) Err() error             { return *s.err }

// lookups resolve an uploaded value to a member id of the institution (NULL:
// not found) and say what is wrong when it cannot be a member.
var lookups = map[string]string{
	IDKindMMS: `SELECT u.line, u.value, r.id AS member_id,
			CASE WHEN u.num IS NULL THEN 'not an MMS ID (a number)'
			     WHEN r.id IS NULL THEN 'not found'
			     WHEN r.deleted THEN 'deleted'
			     WHEN r.record_type <> $2 THEN CASE r.record_type WHEN 'bib' THEN 'a bib' ELSE 'an authority' END || ' record; this set holds ' || $2 || ' records'
			END AS problem
		FROM set_upload u LEFT JOIN records r ON r.id = u.num AND r.institution = $1`,
	IDKindBarcode: `SELECT u.line, u.value, i.id AS member_id, CASE WHEN i.id IS NULL THEN 'not found' END AS problem
		FROM set_upload u LEFT JOIN items i ON i.institution = $1 AND i.barcode = u.value`,
	IDKindUserID: `SELECT u.line, u.value, x.id AS member_id, CASE WHEN x.id IS NULL THEN 'not found' END AS problem
		FROM set_upload u LEFT JOIN users x ON x.institution = $1 AND x.primary_id = u.value`,
}

// resolve turns the staged lines into members (first occurrence of each, in
// file order) and problems.
func resolve(ctx context.Context, tx pgx.Tx, setID int64, institution, kind, content string) error {
	args := []any{institution}
	if kind == IDKindMMS {
		args = append(args, content)
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE set_resolved ON COMMIT DROP AS `+lookups[kind], args...); err != nil {
		return fmt.Errorf("look up ids: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO set_members (set_id, ord, member_id)
		SELECT $1, row_number() OVER (ORDER BY line), member_id FROM (
			SELECT DISTINCT ON (member_id) line, member_id FROM set_resolved
			WHERE problem IS NULL ORDER BY member_id, line) first`, setID); err != nil {
		return fmt.Errorf("write members: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO set_problems (set_id, line, value, problem)
		SELECT $1::bigint, line, left(value, 200), problem FROM set_resolved WHERE problem IS NOT NULL
		UNION ALL
		SELECT $1::bigint, line, left(value, 200), 'duplicate of line ' || first FROM (
			SELECT line, value, min(line) OVER (PARTITION BY member_id) AS first
			FROM set_resolved WHERE problem IS NULL) d
		WHERE line <> first`, setID)
	if err != nil {
		return fmt.Errorf("write problems: %w", err)
	}
	return nil
}

var terminalStatuses = func() []string {
	var out []string
	for _, s := range jobs.AllStatuses {
		if s.Terminal() {
			out = append(out, string(s))
		}
	}
	return out
}()
