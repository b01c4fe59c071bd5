// Package auth issues and checks the bearer tokens of Volant's HTTP API.
//
// A token is "vol_" followed by 32 random bytes in unpadded base64url. Only
// its SHA-256 (hex) is stored, so a leaked database does not leak tokens, and
// checking a token is a lookup by hash: no byte-by-byte comparison of secrets
// happens in Go.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Prefix starts every token, so that leaked tokens are easy to scan for.
const Prefix = "vol_"

// tokenLen is the length of a token: the prefix and 43 base64url characters.
const tokenLen = len(Prefix) + 43

// AdminTokenName names the token EnsureAdminToken creates.
const AdminTokenName = "admin"

// Token is a token's record. The secret itself is never stored.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Scope is what the token may do: read, operator or admin.
	Scope      Scope      `json:"scope" enum:"read,operator,admin"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Revoked reports whether the token was revoked.
func (t *Token) Revoked() bool { return t.RevokedAt != nil }

// Expired reports whether the token's expiry has passed at now.
func (t *Token) Expired(now time.Time) bool { return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) }

// TokenStore persists token records by hash. TokenByHash finds revoked
// tokens too (Check tells them they were revoked); it and RevokeToken
// answer errors wrapping errdefs.ErrNotFound for unknown tokens.
// CreateToken's expiresAt is the zero time for a token that never expires.
type TokenStore interface {
	CreateToken(ctx context.Context, name, hash string, scope Scope, expiresAt time.Time) (*Token, error)
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	ListTokens(ctx context.Context) ([]*Token, error)
	RevokeToken(ctx context.Context, id string) error
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// touchEvery bounds how often a token's last use is written.
const touchEvery = time.Minute

// Auth issues and checks tokens. It is safe for concurrent use.
type Auth struct {
	store  TokenStore
	logger *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	lastTouch map[string]time.Time // token id -> last TouchToken
	// watches are the contexts of requests in flight, by token id: Revoke
	// cancels them.
	watches map[string]map[*watch]struct{}
}

// New returns an Auth over store; a nil logger discards logs.
func New(store TokenStore, logger *slog.Logger) *Auth {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Auth{store: store, logger: logger, now: time.Now, lastTouch: map[string]time.Time{}, watches: map[string]map[*watch]struct{}{}}
}

// Hash returns the stored form of a token: its SHA-256 in hex.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newToken returns a fresh random token.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName reports what is wrong with a token name, or nil.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return errdefs.Invalid("token name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// CreateOptions are the optional parts of a new token.
type CreateOptions struct {
	// Scope is what the token may do; "" is DefaultScope (operator).
	Scope Scope
	// TTL, when positive, makes the token expire that long after its
	// creation (at most MaxTTL); 0 means it never expires.
	TTL time.Duration
}

// MaxTTL bounds a token's lifetime when one is given.
const MaxTTL = 10 * 365 * 24 * time.Hour

// Create issues a new token named name. The token is returned once and
// cannot be recovered later.
func (a *Auth) Create(ctx context.Context, name string, opts CreateOptions) (string, *Token, error) {
	if err := ValidName(name); err != nil {
		return "", nil, err
	}
	scope, err := ParseScope(string(opts.Scope))
	if err != nil {
		return "", nil, err
	}
	var expires time.Time
	switch {
	case opts.TTL < 0 || opts.TTL > MaxTTL:
		return "", nil, errdefs.Invalid("token lifetime %s: give 1 second to %d days, or 0 for a token that does not expire", opts.TTL, int(MaxTTL/(24*time.Hour)))
	case opts.TTL > 0:
		expires = a.now().Add(opts.TTL).UTC()
	}
	tok := newToken()
	rec, err := a.store.CreateToken(ctx, name, Hash(tok), scope, expires)
	if err != nil {
		return "", nil, fmt.Errorf("creating token %s: %w", name, err)
	}
	a.logger.Info("token created", "token", rec.ID, "name", name, "scope", scope)
	return tok, rec, nil
}

// List returns every token record, revoked ones included.
func (a *Auth) List(ctx context.Context) ([]*Token, error) {
	return a.store.ListTokens(ctx)
}

// Revoke revokes the token with id; requests carrying it fail from now on.
func (a *Auth) Revoke(ctx context.Context, id string) error {
	if err := a.store.RevokeToken(ctx, id); err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	a.mu.Lock()
	delete(a.lastTouch, id)
	a.mu.Unlock()
	n := a.cancelWatches(id, errRevoked)
	a.logger.Info("token revoked", "token", id, "requests_ended", n)
	return nil
}

// Check returns the record of a valid, unrevoked token, or an error wrapping
// errdefs.ErrUnauthenticated.
func (a *Auth) Check(ctx context.Context, token string) (*Token, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, Prefix) {
		return nil, errUnauthenticated("the token is malformed")
	}
	rec, err := a.store.TokenByHash(ctx, Hash(token))
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, errUnauthenticated("the token is not known")
	}
	if err != nil {
		return nil, fmt.Errorf("looking up token: %w", err)
	}
	if rec.Revoked() {
		return nil, errUnauthenticated("the token was revoked; use another token, or ask an admin for a new one")
	}
	if rec.Expired(a.now()) {
		return nil, errUnauthenticated("the token expired")
	}
	a.touch(ctx, rec)
	return rec, nil
}

// touch records a token's use, at most once per touchEvery per token.
func (a *Auth) touch(ctx context.Context, rec *Token) {
	now := a.now()
	a.mu.Lock()
	last, ok := a.lastTouch[rec.ID]
	if ok && now.Sub(last) < touchEvery {
		a.mu.Unlock()
		return
	}
	a.lastTouch[rec.ID] = now
	a.mu.Unlock()
	if err := a.store.TouchToken(ctx, rec.ID, now); err != nil {
		a.logger.Warn("recording token use", "token", rec.ID, "err", err)
	}
}

// EnsureAdminToken makes sure path holds a valid admin token. If the file
// holds a known, unrevoked token it is reused; otherwise a new admin token is
// created and written to path with mode 0600. created reports the latter.
func (a *Auth) EnsureAdminToken(ctx context.Context, path string) (token string, created bool, err error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(data))
		rec, cerr := a.Check(ctx, tok)
		if cerr == nil && rec.Scope != ScopeAdmin {
			a.logger.Warn("token file holds a token without the admin scope; writing a new admin token", "path", path, "token", rec.ID)
		} else if cerr == nil {
			// Tighten the mode in case someone loosened it.
			if err := os.Chmod(path, 0o600); err != nil {
				return "", false, fmt.Errorf("securing token file %s: %w", path, err)
			}
			return tok, false, nil
		} else if !errors.Is(cerr, errdefs.ErrUnauthenticated) {
			return "", false, cerr
		} else {
			a.logger.Warn("token file holds an unknown or revoked token; writing a new admin token", "path", path)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return "", false, fmt.Errorf("reading token file %s: %w", path, err)
	}
	tok, _, err := a.Create(ctx, AdminTokenName, CreateOptions{Scope: ScopeAdmin})
	if err != nil {
		return "", false, err
	}
	if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("writing token file %s: %w", path, err)
	}
	return tok, true, nil
}

// writeFileAtomic writes data to a temporary file next to path with mode
// perm and renames it over path, so readers never see a partial token.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// errUnauthenticated returns an ErrUnauthenticated error saying why and how
// to get a token.
func errUnauthenticated(why string) error {
	return &unauthenticated{msg: why + "; " + howToGetToken}
}

const howToGetToken = "send \"Authorization: Bearer <token>\": the admin token is in STATE_DIR/token (read it on the host), " +
	"and \"volar token create <name>\" issues more"

type unauthenticated struct{ msg string }

func (e *unauthenticated) Error() string { return e.msg }
func (e *unauthenticated) Unwrap() error { return errdefs.ErrUnauthenticated }
