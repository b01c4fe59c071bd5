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

// Sandbox is the persisted record of one sandbox.
type Sandbox struct {
	// ID is the primary key, chosen by the caller.
	ID string
	// Name is optional; when not empty it is unique.
	Name    string
	Runtime string
	State   string
	// Reason says why the sandbox is in its state (for example why it failed).
	Reason string
	// Spec is the engine's own JSON description; the store does not look inside.
	Spec   json.RawMessage
	Labels map[string]string

	VMDir        string
	Driver       string
	IP           string
	MAC          string
	Tap          string
	FromSnapshot string
	// ImageRef and ImageDigest name the OCI image the sandbox's root file
	// system comes from; empty without an image.
	ImageRef    string
	ImageDigest string

	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is the zero time when the sandbox never expires.
	ExpiresAt    time.Time
	LastActiveAt time.Time

	// Version counts updates. UpdateSandbox succeeds only when the record's
	// Version matches the stored one, and increments it.
	Version int64
}

const sandboxColumns = `s.id, s.name, s.runtime, s.state, s.reason, s.spec,
	(SELECT json_group_object(l.key, l.value) FROM sandbox_labels l WHERE l.sandbox_id = s.id),
	` + sandboxRest

// sandboxListColumns leaves the labels out; ListSandboxes reads them for a
// whole page in one query.
const sandboxListColumns = `s.id, s.name, s.runtime, s.state, s.reason, s.spec, NULL,
	` + sandboxRest

const sandboxRest = `s.vm_dir, s.driver, s.ip, s.mac, s.tap, s.from_snapshot, s.image_ref, s.image_digest,
	s.created_at, s.updated_at, s.expires_at, s.last_active_at, s.version`

// CreateSandbox inserts sb. CreatedAt, UpdatedAt and LastActiveAt default to
// now; Version is set to 1. It returns the record as stored, or an error
// wrapping errdefs.ErrAlreadyExists when the id or the name is taken.
func (s *Store) CreateSandbox(ctx context.Context, sb Sandbox) (Sandbox, error) {
	if sb.ID == "" {
		return Sandbox{}, errdefs.Invalid("sandbox id is empty")
	}
	t := now()
	if sb.CreatedAt.IsZero() {
		sb.CreatedAt = t
	}
	if sb.UpdatedAt.IsZero() {
		sb.UpdatedAt = sb.CreatedAt
	}
	if sb.LastActiveAt.IsZero() {
		sb.LastActiveAt = sb.CreatedAt
	}
	sb.Version = 1
	sb = normalizeSandbox(sb)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sandboxes (id, name, runtime, state, reason, spec,
			vm_dir, driver, ip, mac, tap, from_snapshot, image_ref, image_digest, created_at, updated_at, expires_at, last_active_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sb.ID, sb.Name, sb.Runtime, sb.State, sb.Reason, blob(sb.Spec),
			sb.VMDir, sb.Driver, sb.IP, sb.MAC, sb.Tap, sb.FromSnapshot, sb.ImageRef, sb.ImageDigest,
			toNanos(sb.CreatedAt), toNanos(sb.UpdatedAt), nullNanos(sb.ExpiresAt), toNanos(sb.LastActiveAt), sb.Version)
		if err != nil {
			return err
		}
		return insertLabels(ctx, tx, sb.ID, sb.Labels)
	})
	if isUnique(err) {
		return Sandbox{}, fmt.Errorf("sandbox %q (name %q): %w", sb.ID, sb.Name, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("creating sandbox %s: %w", sb.ID, err)
	}
	return sb, nil
}

// GetSandbox returns the sandbox with the given id, or an error wrapping
// errdefs.ErrNotFound.
func (s *Store) GetSandbox(ctx context.Context, id string) (Sandbox, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+sandboxColumns+` FROM sandboxes s WHERE s.id = ?`, id)
	sb, err := scanSandbox(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Sandbox{}, errdefs.NotFound("sandbox %q not found", id)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("reading sandbox %s: %w", id, err)
	}
	return sb, nil
}

// GetSandboxByName returns the sandbox with the given name, or an error
// wrapping errdefs.ErrNotFound.
func (s *Store) GetSandboxByName(ctx context.Context, name string) (Sandbox, error) {
	if name == "" {
		return Sandbox{}, errdefs.NotFound("sandbox with an empty name not found")
	}
	row := s.r.QueryRowContext(ctx, `SELECT `+sandboxColumns+` FROM sandboxes s WHERE s.name = ?`, name)
	sb, err := scanSandbox(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Sandbox{}, errdefs.NotFound("sandbox named %q not found", name)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("reading sandbox named %s: %w", name, err)
	}
	return sb, nil
}

// UpdateSandbox replaces the whole stored record with sb. It succeeds only if
// sb.Version equals the stored version (otherwise the error wraps
// errdefs.ErrConflict: re-read and retry). UpdatedAt is set to now and Version
// incremented; the updated record is returned. CreatedAt is never changed.
func (s *Store) UpdateSandbox(ctx context.Context, sb Sandbox) (Sandbox, error) {
	sb = normalizeSandbox(sb)
	sb.UpdatedAt = now()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var created int64
		var version int64
		err := tx.QueryRowContext(ctx, `SELECT created_at, version FROM sandboxes WHERE id = ?`, sb.ID).Scan(&created, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("sandbox %q not found", sb.ID)
		}
		if err != nil {
			return err
		}
		if version != sb.Version {
			return errdefs.Conflict("sandbox %q changed since it was read (version %d, now %d); read it again and retry", sb.ID, sb.Version, version)
		}
		sb.CreatedAt = fromNanos(created)
		sb.Version++
		_, err = tx.ExecContext(ctx, `UPDATE sandboxes SET name = ?, runtime = ?, state = ?, reason = ?, spec = ?,
			vm_dir = ?, driver = ?, ip = ?, mac = ?, tap = ?, from_snapshot = ?, image_ref = ?, image_digest = ?,
			updated_at = ?, expires_at = ?, last_active_at = ?, version = ?
			WHERE id = ?`,
			sb.Name, sb.Runtime, sb.State, sb.Reason, blob(sb.Spec),
			sb.VMDir, sb.Driver, sb.IP, sb.MAC, sb.Tap, sb.FromSnapshot, sb.ImageRef, sb.ImageDigest,
			toNanos(sb.UpdatedAt), nullNanos(sb.ExpiresAt), toNanos(sb.LastActiveAt), sb.Version, sb.ID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sandbox_labels WHERE sandbox_id = ?`, sb.ID); err != nil {
			return err
		}
		return insertLabels(ctx, tx, sb.ID, sb.Labels)
	})
	if isUnique(err) {
		return Sandbox{}, fmt.Errorf("sandbox name %q: %w", sb.Name, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("updating sandbox %s: %w", sb.ID, err)
	}
	return sb, nil
}

// CountSandboxesByImage counts the sandboxes, in any state, whose root
// file system is the image with this digest.
func (s *Store) CountSandboxesByImage(ctx context.Context, digest string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sandboxes WHERE image_digest = ? AND image_digest <> ''`, digest).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting sandboxes of image %s: %w", digest, err)
	}
	return n, nil
}

// DeleteSandbox removes the sandbox with the given id, or returns an error
// wrapping errdefs.ErrNotFound.
func (s *Store) DeleteSandbox(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sandboxes WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("deleting sandbox %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("sandbox %q not found", id)
	}
	return nil
}

func insertLabels(ctx context.Context, tx *sql.Tx, id string, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO sandbox_labels (sandbox_id, key, value) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for k, v := range labels {
		if _, err := st.ExecContext(ctx, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

// normalizeSandbox makes the record look as it will when read back.
func normalizeSandbox(sb Sandbox) Sandbox {
	if len(sb.Labels) == 0 {
		sb.Labels = nil
	}
	if len(sb.Spec) == 0 {
		sb.Spec = nil
	}
	sb.CreatedAt = roundTrip(sb.CreatedAt)
	sb.UpdatedAt = roundTrip(sb.UpdatedAt)
	sb.ExpiresAt = roundTrip(sb.ExpiresAt)
	sb.LastActiveAt = roundTrip(sb.LastActiveAt)
	return sb
}

// roundTrip returns t as the store will return it.
func roundTrip(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return fromNanos(toNanos(t))
}

// blob stores an empty byte slice as NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

type scanner interface{ Scan(dest ...any) error }

func scanSandbox(row scanner) (Sandbox, error) {
	var (
		sb                     Sandbox
		spec                   []byte
		labels                 sql.NullString
		created, updated, last int64
		expires                sql.NullInt64
	)
	err := row.Scan(&sb.ID, &sb.Name, &sb.Runtime, &sb.State, &sb.Reason, &spec, &labels,
		&sb.VMDir, &sb.Driver, &sb.IP, &sb.MAC, &sb.Tap, &sb.FromSnapshot, &sb.ImageRef, &sb.ImageDigest,
		&created, &updated, &expires, &last, &sb.Version)
	if err != nil {
		return Sandbox{}, err
	}
	if len(spec) > 0 {
		sb.Spec = json.RawMessage(spec)
	}
	if labels.Valid && labels.String != "{}" {
		if err := json.Unmarshal([]byte(labels.String), &sb.Labels); err != nil {
			return Sandbox{}, fmt.Errorf("decoding labels of %s: %w", sb.ID, err)
		}
	}
	sb.CreatedAt = fromNanos(created)
	sb.UpdatedAt = fromNanos(updated)
	sb.ExpiresAt = fromNullNanos(expires)
	sb.LastActiveAt = fromNanos(last)
	return sb, nil
}
