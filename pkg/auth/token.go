// Package auth issues and checks API tokens. A token is bound to one
// institution (staff, operator) or one network (network-monitor) and a role;
// only its SHA-256 is stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles.
const (
	RoleStaff          = "staff"
	RoleOperator       = "operator"
	RoleNetworkMonitor = "network-monitor"
)

// Principal is who a valid token speaks for.
type Principal struct {
	TokenID     int64
	Institution string // staff, operator
	Network     string // network-monitor
	Role        string
	User        string
}

// ErrUnauthenticated covers a missing, unknown or revoked token alike, so a
// caller learns nothing about which tokens exist.
var ErrUnauthenticated = errors.New("missing, invalid or revoked token")

// Tokens stores tokens in PostgreSQL.
type Tokens struct{ Pool *pgxpool.Pool }

const prefix = "bdy_"

func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Create issues a new token for p and returns it; it is shown once.
func (t *Tokens) Create(ctx context.Context, p Principal) (string, int64, error) {
	switch p.Role {
	case RoleStaff, RoleOperator:
		if p.Institution == "" || p.Network != "" {
			return "", 0, fmt.Errorf("a %s token is bound to one institution (--institution)", p.Role)
		}
	case RoleNetworkMonitor:
		if p.Network == "" || p.Institution != "" {
			return "", 0, fmt.Errorf("a network-monitor token is bound to one network (--network)")
		}
	default:
		return "", 0, fmt.Errorf("unknown role %q (staff, operator, network-monitor)", p.Role)
	}
	if p.User == "" {
		return "", 0, errors.New("a token needs a user name (--user)")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", 0, err
	}
	token := prefix + base64.RawURLEncoding.EncodeToString(raw)
	var id int64
	err := t.Pool.QueryRow(ctx, `INSERT INTO api_tokens (token_hash, institution, network, role, user_name)
		VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5) RETURNING id`,
		hash(token), p.Institution, p.Network, p.Role, p.User).Scan(&id)
	if err != nil {
		return "", 0, fmt.Errorf("create token: %w", err)
	}
	return token, id, nil
}

// Lookup returns the principal of a token that exists and is not revoked.
func (t *Tokens) Lookup(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, prefix) {
		return nil, ErrUnauthenticated
	}
	var p Principal
	err := t.Pool.QueryRow(ctx, `SELECT id, coalesce(institution, ''), coalesce(network, ''), role, user_name
		FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, hash(token)).
		Scan(&p.TokenID, &p.Institution, &p.Network, &p.Role, &p.User)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Revoke revokes a token by id. It reports whether a live token was revoked.
func (t *Tokens) Revoke(ctx context.Context, id int64) (bool, error) {
	tag, err := t.Pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}
