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

// Plugin is the persisted record of an installed plugin.
type Plugin struct {
	Name    string
	Version string
	Enabled bool
	// Manifest is the plugin's manifest as JSON; the plugins package owns it.
	Manifest    json.RawMessage
	InstalledAt time.Time
	UpdatedAt   time.Time
}

// CreatePlugin records a newly installed plugin. InstalledAt and UpdatedAt
// default to now. It returns an error wrapping errdefs.ErrAlreadyExists when
// a plugin of that name is installed.
func (s *Store) CreatePlugin(ctx context.Context, p Plugin) (Plugin, error) {
	if p.Name == "" {
		return Plugin{}, errdefs.Invalid("plugin name is empty")
	}
	if p.InstalledAt.IsZero() {
		p.InstalledAt = now()
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.InstalledAt
	}
	p = normalizePlugin(p)
	_, err := s.w.ExecContext(ctx, `INSERT INTO plugins (name, version, enabled, manifest, installed_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, p.Name, p.Version, p.Enabled, blob(p.Manifest), toNanos(p.InstalledAt), toNanos(p.UpdatedAt))
	if isUnique(err) {
		return Plugin{}, fmt.Errorf("plugin %q: %w", p.Name, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return Plugin{}, fmt.Errorf("recording plugin %s: %w", p.Name, err)
	}
	return p, nil
}

// GetPlugin returns the plugin with the given name, or an error wrapping
// errdefs.ErrNotFound.
func (s *Store) GetPlugin(ctx context.Context, name string) (Plugin, error) {
	row := s.r.QueryRowContext(ctx, `SELECT name, version, enabled, manifest, installed_at, updated_at FROM plugins WHERE name = ?`, name)
	p, err := scanPlugin(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Plugin{}, errdefs.NotFound("plugin %q is not installed", name)
	}
	if err != nil {
		return Plugin{}, fmt.Errorf("reading plugin %s: %w", name, err)
	}
	return p, nil
}

// ListPlugins returns every installed plugin ordered by name.
func (s *Store) ListPlugins(ctx context.Context) ([]Plugin, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, version, enabled, manifest, installed_at, updated_at FROM plugins ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing plugins: %w", err)
	}
	defer rows.Close()
	var out []Plugin
	for rows.Next() {
		p, err := scanPlugin(rows)
		if err != nil {
			return nil, fmt.Errorf("listing plugins: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// UpdatePlugin replaces the stored version, enabled flag and manifest of
// p.Name and sets UpdatedAt to now. It returns the record as stored, or an
// error wrapping errdefs.ErrNotFound.
func (s *Store) UpdatePlugin(ctx context.Context, p Plugin) (Plugin, error) {
	p.UpdatedAt = now()
	p = normalizePlugin(p)
	var installed int64
	err := s.w.QueryRowContext(ctx, `UPDATE plugins SET version = ?, enabled = ?, manifest = ?, updated_at = ?
		WHERE name = ? RETURNING installed_at`,
		p.Version, p.Enabled, blob(p.Manifest), toNanos(p.UpdatedAt), p.Name).Scan(&installed)
	if errors.Is(err, sql.ErrNoRows) {
		return Plugin{}, errdefs.NotFound("plugin %q is not installed", p.Name)
	}
	if err != nil {
		return Plugin{}, fmt.Errorf("updating plugin %s: %w", p.Name, err)
	}
	p.InstalledAt = fromNanos(installed)
	return p, nil
}

// DeletePlugin removes the plugin record, or returns an error wrapping
// errdefs.ErrNotFound.
func (s *Store) DeletePlugin(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM plugins WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("deleting plugin %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("plugin %q is not installed", name)
	}
	return nil
}

func normalizePlugin(p Plugin) Plugin {
	if len(p.Manifest) == 0 {
		p.Manifest = nil
	}
	p.InstalledAt = roundTrip(p.InstalledAt)
	p.UpdatedAt = roundTrip(p.UpdatedAt)
	return p
}

func scanPlugin(row scanner) (Plugin, error) {
	var (
		p                  Plugin
		manifest           []byte
		installed, updated int64
	)
	if err := row.Scan(&p.Name, &p.Version, &p.Enabled, &manifest, &installed, &updated); err != nil {
		return Plugin{}, err
	}
	if len(manifest) > 0 {
		p.Manifest = manifest
	}
	p.InstalledAt = fromNanos(installed)
	p.UpdatedAt = fromNanos(updated)
	return p, nil
}
