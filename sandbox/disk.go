package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// DataDir is where a sandbox's data disk is mounted in the guest.
const DataDir = "/data"

// dataDisk is a sandbox's data disk: an image that outlives stops and
// starts, removed with the sandbox, at data.<format> in its own directory.
// An existing image is taken whatever its format (the driver refuses one
// its VMM cannot open); a new one gets the driver's preferred format.
func (m *Manager) dataDisk(id string) hypervisor.Disk {
	dir := filepath.Join(m.cfg.StateDir, "disks", id)
	formats := m.cfg.Driver.Capabilities().DiskFormats
	for _, f := range append(slices.Clone(formats), "qcow2", "raw") {
		p := filepath.Join(dir, "data."+f)
		if _, err := os.Stat(p); err == nil {
			return hypervisor.Disk{Path: p, Format: f}
		}
	}
	f := "raw"
	if len(formats) > 0 {
		f = formats[0]
	}
	return hypervisor.Disk{Path: filepath.Join(dir, "data."+f), Format: f}
}

// diskMaker is the driver's DiskMaker, or an error saying data disks are
// not available with it.
func (m *Manager) diskMaker() (hypervisor.DiskMaker, error) {
	dm, ok := m.cfg.Driver.(hypervisor.DiskMaker)
	if !ok || len(m.cfg.Driver.Capabilities().DiskFormats) == 0 {
		return nil, errdefs.Unavailable("data disks are not available with the %s driver; leave disk_mib unset", m.cfg.Driver.Name())
	}
	return dm, nil
}

// ensureDisk creates the sandbox's data disk on first use. The guest
// formats it on first boot and mounts it at DataDir.
func (m *Manager) ensureDisk(ctx context.Context, id string, mib int) (hypervisor.Disk, error) {
	d := m.dataDisk(id)
	if _, err := os.Stat(d.Path); err == nil {
		return d, nil
	}
	dm, err := m.diskMaker()
	if err != nil {
		return d, err
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return d, err
	}
	if err := dm.CreateDisk(ctx, d, mib); err != nil {
		_ = os.RemoveAll(filepath.Dir(d.Path))
		return d, fmt.Errorf("creating the data disk of %s: %w", id, err)
	}
	return d, nil
}

// removeDisk deletes a sandbox's data disk.
func (m *Manager) removeDisk(id string) {
	_ = os.RemoveAll(filepath.Dir(m.dataDisk(id).Path))
}

// keepDisk makes the data disk a running VM writes the sandbox's own again
// before the VM goes away. After a snapshot (or a restore) the VM writes an
// overlay or copy in its runtime directory whose base belongs to a
// snapshot; it is flushed by the guest, then flattened by the driver into
// a standalone image at the sandbox's data disk path.
func (m *Manager) keepDisk(ctx context.Context, id string, in *instance) (copied bool, err error) {
	rep, ok := in.vm.(hypervisor.DiskReporter)
	if !ok {
		return false, nil
	}
	disks := rep.ActiveDisks()
	dst := m.dataDisk(id)
	if len(disks) == 0 || disks[0].Path == dst.Path {
		return false, nil
	}
	dm, err := m.diskMaker()
	if err != nil {
		return false, err
	}
	// The agent flushes itself: an image root may have no sync binary.
	if err := in.agent.Sync(ctx); err != nil {
		return false, fmt.Errorf("flushing the data disk of %s: %w", id, err)
	}
	if p, ok := in.vm.(hypervisor.Pauser); ok {
		if err := p.Pause(ctx); err != nil {
			return false, fmt.Errorf("pausing %s to copy its data disk: %w", id, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst.Path), 0o700); err != nil {
		return false, err
	}
	// The driver replaces the name only: a snapshot's hard link to the old
	// image keeps its frozen content.
	if err := dm.FlattenDisk(ctx, disks[0], dst); err != nil {
		return false, fmt.Errorf("copying the data disk of %s: %w", id, err)
	}
	return true, nil
}
