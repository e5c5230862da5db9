package sets

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bindery/bindery/pkg/config"
)

// RefusedError is a job submission refused because of its set: the set is
// not the institution's, or not of the content the job type runs on.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// ContentNoun names a content type for people ("bib records").
func ContentNoun(content string) string {
	switch content {
	case ContentBib:
		return "bib records"
	case ContentAuthority:
		return "authority records"
	case ContentItem:
		return "physical items"
	case ContentUser:
		return "users"
	case ContentPOLine:
		return "PO lines"
	}
	return content
}

// CheckSubmit checks, inside the transaction that inserts the job, the set
// a job of type jt is submitted to run on (its "set" parameter): the set
// must be the institution's and of the content the job type runs on
// (set_content), else *RefusedError. The set row stays key-share locked
// until the transaction ends, so the set cannot be deleted under a job
// being submitted on it (Delete refuses while the job is unfinished).
// Job types without set_content pass.
func CheckSubmit(ctx context.Context, tx pgx.Tx, jt *config.JobType, institution string, params map[string]any) error {
	if jt.SetContent == "" {
		return nil
	}
	var id int64
	switch v := params[config.SetParam].(type) {
	case int64:
		id = v
	case float64:
		id = int64(v)
	default:
		return &RefusedError{fmt.Sprintf("job type %s runs on a set of %s: give its id as parameter %q", jt.ID, ContentNoun(jt.SetContent), config.SetParam)}
	}
	s, err := scanSet(tx.QueryRow(ctx, `SELECT `+setColumns+` FROM sets WHERE id = $1 AND institution = $2 FOR KEY SHARE`, id, institution))
	if errors.Is(err, ErrNotFound) {
		return &RefusedError{fmt.Sprintf("parameter %q: set %d is not a set of institution %s (see `bindery set list`)", config.SetParam, id, institution)}
	}
	if err != nil {
		return err
	}
	if s.ContentType != jt.SetContent {
		return &RefusedError{fmt.Sprintf("parameter %q: job type %s runs on sets of %s (%s), but set %d (%q) holds %s (%s)",
			config.SetParam, jt.ID, ContentNoun(jt.SetContent), jt.SetContent, s.ID, s.Name, ContentNoun(s.ContentType), s.ContentType)}
	}
	return nil
}

// InstitutionOf returns the institution a set belongs to (ErrNotFound).
func InstitutionOf(ctx context.Context, q DB, setID int64) (string, error) {
	var in string
	err := q.QueryRow(ctx, `SELECT institution FROM sets WHERE id = $1`, setID).Scan(&in)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return in, err
}
