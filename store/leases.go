package store

import (
	"context"
	"fmt"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Lease is one address handed out from a pool.
type Lease struct {
	Pool      string
	IP        string
	SandboxID string
	MAC       string
	CreatedAt time.Time
}

// PoolLeases returns the leases of pool as a map from address to owner. It
// implements the loading half of ipam.LeaseStore.
func (s *Store) PoolLeases(ctx context.Context, pool string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ip, sandbox_id FROM leases WHERE pool = ?`, pool)
	if err != nil {
		return nil, fmt.Errorf("reading leases of pool %s: %w", pool, err)
	}
	defer rows.Close()
	m := make(map[string]string)
	for rows.Next() {
		var ip, owner string
		if err := rows.Scan(&ip, &owner); err != nil {
			return nil, fmt.Errorf("reading leases of pool %s: %w", pool, err)
		}
		m[ip] = owner
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading leases of pool %s: %w", pool, err)
	}
	return m, nil
}

// ListLeases returns every lease of every pool, ordered by pool and address
// text.
func (s *Store) ListLeases(ctx context.Context) ([]Lease, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT pool, ip, sandbox_id, mac, created_at FROM leases ORDER BY pool, ip`)
	if err != nil {
		return nil, fmt.Errorf("listing leases: %w", err)
	}
	defer rows.Close()
	var out []Lease
	for rows.Next() {
		var l Lease
		var created int64
		if err := rows.Scan(&l.Pool, &l.IP, &l.SandboxID, &l.MAC, &created); err != nil {
			return nil, fmt.Errorf("listing leases: %w", err)
		}
		l.CreatedAt = fromNanos(created)
		out = append(out, l)
	}
	return out, rows.Err()
}

// InsertLease records that ip in pool belongs to owner. It returns an error
// wrapping errdefs.ErrAlreadyExists when the address is taken or the owner
// already holds an address in the pool.
func (s *Store) InsertLease(ctx context.Context, pool, ip, owner, mac string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO leases (pool, ip, sandbox_id, mac, created_at) VALUES (?, ?, ?, ?, ?)`,
		pool, ip, owner, mac, toNanos(now()))
	if isUnique(err) {
		return fmt.Errorf("lease of %s in pool %s for %s: %w", ip, pool, owner, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("recording lease of %s in pool %s: %w", ip, pool, err)
	}
	return nil
}

// DeleteLease forgets the lease of ip in pool. Deleting a lease that does not
// exist is not an error.
func (s *Store) DeleteLease(ctx context.Context, pool, ip string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM leases WHERE pool = ? AND ip = ?`, pool, ip); err != nil {
		return fmt.Errorf("deleting lease of %s in pool %s: %w", ip, pool, err)
	}
	return nil
}
