package daemon

import (
	"context"
	"time"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/store"
)

// tokenStore adapts store.Store's token records to auth.TokenStore.
type tokenStore struct{ s *store.Store }

var _ auth.TokenStore = tokenStore{}

func (t tokenStore) CreateToken(ctx context.Context, name, hash string, scope auth.Scope, expiresAt time.Time) (*auth.Token, error) {
	r, err := t.s.CreateToken(ctx, store.Token{Name: name, Hash: hash, Scope: string(scope), ExpiresAt: expiresAt})
	if err != nil {
		return nil, err
	}
	return toAuth(r), nil
}

func (t tokenStore) TokenByHash(ctx context.Context, hash string) (*auth.Token, error) {
	r, err := t.s.TokenByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	return toAuth(r), nil
}

func (t tokenStore) ListTokens(ctx context.Context) ([]*auth.Token, error) {
	rs, err := t.s.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*auth.Token, 0, len(rs))
	for _, r := range rs {
		out = append(out, toAuth(r))
	}
	return out, nil
}

func (t tokenStore) RevokeToken(ctx context.Context, id string) error {
	return t.s.RevokeToken(ctx, id)
}

func (t tokenStore) TouchToken(ctx context.Context, id string, _ time.Time) error {
	return t.s.TouchToken(ctx, id)
}

func toAuth(r store.Token) *auth.Token {
	t := &auth.Token{ID: r.ID, Name: r.Name, Scope: auth.Scope(r.Scope), CreatedAt: r.CreatedAt}
	if !r.ExpiresAt.IsZero() {
		v := r.ExpiresAt
		t.ExpiresAt = &v
	}
	if !r.LastUsedAt.IsZero() {
		v := r.LastUsedAt
		t.LastUsedAt = &v
	}
	if !r.RevokedAt.IsZero() {
		v := r.RevokedAt
		t.RevokedAt = &v
	}
	return t
}
