package sandbox

import (
	"context"

	"github.com/volant-sh/volant/errdefs"
)

// errNoSnapshots is returned until the snapshot lifecycle lands.
var errNoSnapshots = errdefs.Unavailable("snapshots are not supported by this build yet")

// Snapshot saves a running or paused sandbox; it keeps running.
func (m *Manager) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	if _, err := m.record(ctx, id); err != nil {
		return nil, err
	}
	return nil, errNoSnapshots
}

// Fork snapshots a sandbox and restores n clones of it, each with its own
// identity.
func (m *Manager) Fork(ctx context.Context, id string, n int) ([]*Sandbox, error) {
	if n < 1 || n > 64 {
		return nil, errdefs.Invalid("count %d: fork between 1 and 64 clones", n)
	}
	if _, err := m.record(ctx, id); err != nil {
		return nil, err
	}
	return nil, errNoSnapshots
}

// ListSnapshots returns every snapshot, oldest first.
func (m *Manager) ListSnapshots(ctx context.Context) ([]*Snapshot, error) {
	recs, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Snapshot, 0, len(recs))
	for _, r := range recs {
		out = append(out, &Snapshot{ID: r.ID, SandboxID: r.SandboxID, ParentID: r.ParentID, Runtime: r.Runtime, SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// GetSnapshot returns one snapshot.
func (m *Manager) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) {
	r, err := m.cfg.Store.GetSnapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	children, sandboxes, err := m.cfg.Store.SnapshotRefs(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Snapshot{ID: r.ID, SandboxID: r.SandboxID, ParentID: r.ParentID, Runtime: r.Runtime, SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt, Children: children, Sandboxes: sandboxes}, nil
}

// DeleteSnapshot removes a snapshot nothing depends on.
func (m *Manager) DeleteSnapshot(ctx context.Context, id string) error {
	if _, err := m.GetSnapshot(ctx, id); err != nil {
		return err
	}
	return errNoSnapshots
}
