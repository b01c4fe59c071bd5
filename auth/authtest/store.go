// Package authtest provides an in-memory auth.TokenStore for tests.
package authtest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/volant-sh/volant/auth"
	"github.com/volant-sh/volant/errdefs"
)

// Store is an in-memory auth.TokenStore. It is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	byID    map[string]*auth.Token
	hashes  map[string]string // hash -> id
	n       int
	touches int
}

var _ auth.TokenStore = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{byID: map[string]*auth.Token{}, hashes: map[string]string{}}
}

// CreateToken implements auth.TokenStore.
func (s *Store) CreateToken(_ context.Context, name, hash string, scope auth.Scope, expiresAt time.Time) (*auth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hashes[hash]; ok {
		return nil, fmt.Errorf("token hash: %w", errdefs.ErrAlreadyExists)
	}
	s.n++
	t := &auth.Token{ID: fmt.Sprintf("tok-%d", s.n), Name: name, Scope: scope, CreatedAt: time.Now().UTC()}
	if !expiresAt.IsZero() {
		t.ExpiresAt = &expiresAt
	}
	s.byID[t.ID] = t
	s.hashes[hash] = t.ID
	c := *t
	return &c, nil
}

// TokenByHash implements auth.TokenStore.
func (s *Store) TokenByHash(_ context.Context, hash string) (*auth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.hashes[hash]
	if !ok {
		return nil, errdefs.NotFound("token not found")
	}
	c := *s.byID[id]
	return &c, nil
}

// ListTokens implements auth.TokenStore.
func (s *Store) ListTokens(context.Context) ([]*auth.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*auth.Token, 0, len(s.byID))
	for _, t := range s.byID {
		c := *t
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RevokeToken implements auth.TokenStore.
func (s *Store) RevokeToken(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	if !ok {
		return errdefs.NotFound("token %s not found", id)
	}
	if t.RevokedAt == nil {
		now := time.Now().UTC()
		t.RevokedAt = &now
	}
	return nil
}

// TouchToken implements auth.TokenStore.
func (s *Store) TouchToken(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	if !ok {
		return errdefs.NotFound("token %s not found", id)
	}
	at = at.UTC()
	t.LastUsedAt = &at
	s.touches++
	return nil
}

// Touches counts TouchToken calls.
func (s *Store) Touches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.touches
}
