package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

// Snapshot is the persisted record of a snapshot directory.
type Snapshot struct {
	ID string
	// SandboxID is the sandbox the snapshot was taken from; it may since
	// have been deleted.
	SandboxID string
	// ParentID is the snapshot the source sandbox was restored from, or
	// empty. It must name an existing snapshot.
	ParentID string
	Runtime  string
	Dir      string
	// Manifest is the snapshot's manifest as JSON; the engine owns it.
	Manifest  json.RawMessage
	SizeBytes int64
	CreatedAt time.Time
}

const snapshotColumns = `id, sandbox_id, parent_id, runtime, dir, manifest, size_bytes, created_at`

// CreateSnapshot records a snapshot. CreatedAt defaults to now. It returns an
// error wrapping errdefs.ErrAlreadyExists when the id is taken, or
// errdefs.ErrNotFound when ParentID names no snapshot.
func (s *Store) CreateSnapshot(ctx context.Context, sn Snapshot) (Snapshot, error) {
	if sn.ID == "" {
		return Snapshot{}, errdefs.Invalid("snapshot id is empty")
	}
	if sn.CreatedAt.IsZero() {
		sn.CreatedAt = now()
	}
	sn = normalizeSnapshot(sn)
	_, err := s.w.ExecContext(ctx, `INSERT INTO snapshots (`+snapshotColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sn.ID, sn.SandboxID, sql.NullString{String: sn.ParentID, Valid: sn.ParentID != ""},
		sn.Runtime, sn.Dir, blob(sn.Manifest), sn.SizeBytes, toNanos(sn.CreatedAt))
	switch {
	case isUnique(err):
		return Snapshot{}, fmt.Errorf("snapshot %q: %w", sn.ID, errdefs.ErrAlreadyExists)
	case isForeignKey(err):
		return Snapshot{}, errdefs.NotFound("parent snapshot %q of %q not found", sn.ParentID, sn.ID)
	case err != nil:
		return Snapshot{}, fmt.Errorf("recording snapshot %s: %w", sn.ID, err)
	}
	return sn, nil
}

// GetSnapshot returns the snapshot with the given id, or an error wrapping
// errdefs.ErrNotFound.
func (s *Store) GetSnapshot(ctx context.Context, id string) (Snapshot, error) {
	sn, err := scanSnapshot(s.r.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM snapshots WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Snapshot{}, errdefs.NotFound("snapshot %q not found", id)
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("reading snapshot %s: %w", id, err)
	}
	return sn, nil
}

// ListSnapshots returns every snapshot, oldest first.
func (s *Store) ListSnapshots(ctx context.Context) ([]Snapshot, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM snapshots ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		sn, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("listing snapshots: %w", err)
		}
		out = append(out, sn)
	}
	return out, rows.Err()
}

// SnapshotRefs counts what depends on snapshot id: snapshots whose parent it
// is, and sandboxes restored from it. It returns an error wrapping
// errdefs.ErrNotFound when there is no such snapshot.
func (s *Store) SnapshotRefs(ctx context.Context, id string) (children, sandboxes int, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM snapshots WHERE parent_id = s.id),
		(SELECT count(*) FROM sandboxes WHERE from_snapshot = s.id)
		FROM snapshots s WHERE s.id = ?`, id).Scan(&children, &sandboxes)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, errdefs.NotFound("snapshot %q not found", id)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("counting references to snapshot %s: %w", id, err)
	}
	return children, sandboxes, nil
}

// DeleteSnapshot removes the snapshot record. It refuses, with an error
// wrapping errdefs.ErrConflict, while child snapshots or sandboxes restored
// from it exist; a missing snapshot wraps errdefs.ErrNotFound. The check and
// the delete are one transaction.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var children, sandboxes int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM snapshots WHERE parent_id = s.id),
			(SELECT count(*) FROM sandboxes WHERE from_snapshot = s.id)
			FROM snapshots s WHERE s.id = ?`, id).Scan(&children, &sandboxes)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("snapshot %q not found", id)
		}
		if err != nil {
			return err
		}
		if children > 0 || sandboxes > 0 {
			return errdefs.Conflict("snapshot %q is in use by %d child snapshots and %d sandboxes; delete those first", id, children, sandboxes)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM snapshots WHERE id = ?`, id)
		return err
	})
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) && !errors.Is(err, errdefs.ErrConflict) {
		return fmt.Errorf("deleting snapshot %s: %w", id, err)
	}
	return err
}

func normalizeSnapshot(sn Snapshot) Snapshot {
	if len(sn.Manifest) == 0 {
		sn.Manifest = nil
	}
	sn.CreatedAt = roundTrip(sn.CreatedAt)
	return sn
}

func scanSnapshot(row scanner) (Snapshot, error) {
	var (
		sn       Snapshot
		parent   sql.NullString
		manifest []byte
		created  int64
	)
	if err := row.Scan(&sn.ID, &sn.SandboxID, &parent, &sn.Runtime, &sn.Dir, &manifest, &sn.SizeBytes, &created); err != nil {
		return Snapshot{}, err
	}
	sn.ParentID = parent.String
	if len(manifest) > 0 {
		sn.Manifest = manifest
	}
	sn.CreatedAt = fromNanos(created)
	return sn, nil
}
