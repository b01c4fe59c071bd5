package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
)

// DataDir is where a sandbox's data disk is mounted in the guest.
const DataDir = "/data"

// diskPath is a sandbox's data disk: a qcow2 image that outlives stops
// and starts, removed with the sandbox.
func (m *Manager) diskPath(id string) string {
	return filepath.Join(m.cfg.StateDir, "disks", id, "data.qcow2")
}

// ensureDisk creates the sandbox's data disk on first use. The guest
// formats it on first boot and mounts it at DataDir.
func (m *Manager) ensureDisk(ctx context.Context, id string, mib int) (hypervisor.Disk, error) {
	p := m.diskPath(id)
	d := hypervisor.Disk{Path: p, Format: "qcow2"}
	if _, err := os.Stat(p); err == nil {
		return d, nil
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return d, errdefs.Unavailable("disk_mib needs qemu-img (apt-get install qemu-utils)")
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return d, err
	}
	out, err := exec.CommandContext(ctx, qemuImg, "create", "-q", "-f", "qcow2", p, strconv.Itoa(mib)+"M").CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(filepath.Dir(p))
		return d, fmt.Errorf("creating data disk of %s: %v: %s", id, err, out)
	}
	return d, nil
}

// removeDisk deletes a sandbox's data disk.
func (m *Manager) removeDisk(id string) {
	_ = os.RemoveAll(filepath.Dir(m.diskPath(id)))
}

// keepDisk makes the data disk a running VM writes the sandbox's own again
// before the VM goes away. After a snapshot (or a restore) the VM writes an
// overlay in its runtime directory whose base belongs to a snapshot; it is
// flushed by the guest, then copied into a standalone image at diskPath.
func (m *Manager) keepDisk(ctx context.Context, id string, in *instance) (copied bool, err error) {
	rep, ok := in.vm.(hypervisor.DiskReporter)
	if !ok {
		return false, nil
	}
	disks := rep.ActiveDisks()
	if len(disks) == 0 || disks[0].Path == m.diskPath(id) {
		return false, nil
	}
	if res, err := in.agent.Exec(ctx, client.ExecRequest{Argv: []string{"sync"}, TimeoutMS: 30000}, nil); err != nil || res.ExitCode != 0 {
		return false, fmt.Errorf("flushing the data disk of %s: %v", id, err)
	}
	if p, ok := in.vm.(hypervisor.Pauser); ok {
		if err := p.Pause(ctx); err != nil {
			return false, fmt.Errorf("pausing %s to copy its data disk: %w", id, err)
		}
	}
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return false, errdefs.Unavailable("keeping the data disk needs qemu-img (apt-get install qemu-utils)")
	}
	dst := m.diskPath(id)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, err
	}
	tmp := dst + ".tmp"
	out, err := exec.CommandContext(ctx, qemuImg, "convert", "-U", "-q", "-O", "qcow2", disks[0].Path, tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("copying the data disk of %s: %v: %s", id, err, out)
	}
	// The rename replaces the name only: a snapshot's hard link to the old
	// image keeps its frozen content.
	return true, os.Rename(tmp, dst)
}
