package sandbox

import (
	"context"
	"os"
	"path/filepath"
)

// sweepSnapshots removes the snapshot directories no snapshot record
// names: what a snapshot, fork or template build left when the daemon
// (or its VMM) died between writing the files and recording them. A
// snapshot is listed only once its record is written, so these are never
// in use.
func (m *Manager) sweepSnapshots(ctx context.Context) {
	root := filepath.Join(m.cfg.StateDir, "snapshots")
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	recs, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		m.log.Warn("listing snapshots to sweep their directories", "err", err)
		return
	}
	known := map[string]bool{}
	for _, r := range recs {
		known[filepath.Clean(r.Dir)] = true
	}
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		if known[dir] {
			continue
		}
		m.log.Info("removing a snapshot directory left by an interrupted snapshot", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("removing a snapshot directory", "dir", dir, "err", err)
		}
	}
}
