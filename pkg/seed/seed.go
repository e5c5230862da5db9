// Package seed creates demo fulfillment data: users, items and loans of an
// institution, generated inside PostgreSQL so a million loans take seconds.
package seed

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Counts is what Demo created.
type Counts struct {
	Users, Items, Loans int64
	// ReturnedLongAgo loans are due for anonymization under any retention of
	// up to a year; Open and RecentlyReturned ones are not.
	ReturnedLongAgo, RecentlyReturned, Open int64
}

// Demo adds loans loans (and the users and items they need) to institution.
// With reset, the institution's existing loans are deleted first. The mix is
// fixed: 70% returned one to three years ago, 15% returned in the last ten
// days, 15% still open.
func Demo(ctx context.Context, pool *pgxpool.Pool, institution string, loans int64, reset bool) (Counts, error) {
	var c Counts
	users := max(loans/20, 10)
	items := max(loans/5, 10)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if reset {
			if _, err := tx.Exec(ctx, `DELETE FROM loans WHERE institution = $1`, institution); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `INSERT INTO users (institution, primary_id, full_name, stat_category)
			SELECT $1, 'U' || lpad(g::text, 8, '0'), 'Demo Patron ' || g,
			       (ARRAY['UNDERGRAD', 'GRAD', 'FACULTY', 'STAFF', 'COMMUNITY'])[1 + g % 5]
			FROM generate_series(1, $2::bigint) g ON CONFLICT DO NOTHING`, institution, users)
		if err != nil {
			return err
		}
		c.Users = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `INSERT INTO items (institution, barcode, title)
			SELECT $1, 'B' || lpad(g::text, 10, '0'), 'Demo Title ' || g
			FROM generate_series(1, $2::bigint) g ON CONFLICT DO NOTHING`, institution, items)
		if err != nil {
			return err
		}
		c.Items = tag.RowsAffected()
		// Deterministic spread: bucket = g mod 20 picks the kind of loan.
		tag, err = tx.Exec(ctx, `WITH u AS (SELECT array_agg(id ORDER BY id) a FROM users WHERE institution = $1),
			     i AS (SELECT array_agg(id ORDER BY id) a FROM items WHERE institution = $1)
			INSERT INTO loans (institution, item_id, user_id, loan_date, due_date, return_date)
			SELECT $1, i.a[1 + (g * 7919) % cardinality(i.a)], u.a[1 + (g * 104729) % cardinality(u.a)],
			       d.loan_date, d.loan_date + interval '28 days',
			       CASE WHEN g % 20 < 14 THEN d.loan_date + interval '14 days'
			            WHEN g % 20 < 17 THEN now() - make_interval(days => (g % 10)::int)
			            ELSE NULL END
			FROM generate_series(1, $2::bigint) g, u, i,
			     LATERAL (SELECT CASE WHEN g % 20 < 14 THEN now() - make_interval(days => 365 + (g % 730)::int)
			                          ELSE now() - make_interval(days => 20 + (g % 30)::int) END AS loan_date) d`,
			institution, loans)
		if err != nil {
			return fmt.Errorf("loans: %w", err)
		}
		c.Loans = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("seed %s: %w", institution, err)
	}
	c.ReturnedLongAgo = loans / 20 * 14
	c.RecentlyReturned = loans / 20 * 3
	c.Open = loans / 20 * 3
	for g := loans - loans%20 + 1; g <= loans; g++ {
		switch {
		case g%20 < 14:
			c.ReturnedLongAgo++
		case g%20 < 17:
			c.RecentlyReturned++
		default:
			c.Open++
		}
	}
	return c, nil
}
