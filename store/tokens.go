package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Token is an API token's record. The token itself is never stored, only the
// hex SHA-256 of it.
type Token struct {
	ID   string
	Name string
	// Hash is the lowercase hex SHA-256 of the token.
	Hash string
	// Scope is what the token may do: read, operator or admin.
	Scope     string
	CreatedAt time.Time
	// ExpiresAt is the zero time for a token that never expires.
	ExpiresAt time.Time
	// LastUsedAt is the zero time if the token was never used.
	LastUsedAt time.Time
	// RevokedAt is the zero time while the token is valid.
	RevokedAt time.Time
}

// Revoked reports whether the token has been revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

const tokenColumns = `id, name, hash, scope, created_at, expires_at, last_used_at, revoked_at`

// CreateToken records a token by the hex SHA-256 of its secret (t.Hash,
// 64 lowercase hex digits) with t.Name, t.Scope and t.ExpiresAt, and
// returns the record with a new random id and its creation time.
func (s *Store) CreateToken(ctx context.Context, t Token) (Token, error) {
	if !validHash(t.Hash) {
		return Token{}, errdefs.Invalid("token hash must be the 64 lowercase hex digits of a SHA-256, not the token itself")
	}
	if t.Scope == "" {
		return Token{}, errdefs.Invalid("token %s has no scope", t.Name)
	}
	t.ID, t.CreatedAt, t.LastUsedAt, t.RevokedAt = "tok_"+randomHex(8), now(), time.Time{}, time.Time{}
	var expires any
	if !t.ExpiresAt.IsZero() {
		expires = toNanos(t.ExpiresAt)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (id, name, hash, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, t.Scope, toNanos(t.CreatedAt), expires)
	if isUnique(err) {
		return Token{}, fmt.Errorf("token with that hash: %w", errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return Token{}, fmt.Errorf("recording token %s: %w", t.Name, err)
	}
	return t, nil
}

// TokenByHash returns the token with the given hash, revoked or not (so
// that a revoked token is told so), or an error wrapping
// errdefs.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, errdefs.NotFound("no token with that hash")
	}
	if err != nil {
		return Token{}, fmt.Errorf("looking up token: %w", err)
	}
	return t, nil
}

// ListTokens returns every token, revoked ones included, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes the token with the given id. Revoking a revoked token
// keeps its first revocation time. A missing id wraps errdefs.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, toNanos(now()), id)
	if err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("token %q not found", id)
	}
	return nil
}

// TouchToken records that the token with the given id was used now. A
// missing id wraps errdefs.ErrNotFound.
func (s *Store) TouchToken(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, toNanos(now()), id)
	if err != nil {
		return fmt.Errorf("touching token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("token %q not found", id)
	}
	return nil
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func scanToken(row scanner) (Token, error) {
	var (
		t                      Token
		created                int64
		expires, used, revoked sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Scope, &created, &expires, &used, &revoked); err != nil {
		return Token{}, err
	}
	t.CreatedAt = fromNanos(created)
	t.ExpiresAt = fromNullNanos(expires)
	t.LastUsedAt = fromNullNanos(used)
	t.RevokedAt = fromNullNanos(revoked)
	return t, nil
}
