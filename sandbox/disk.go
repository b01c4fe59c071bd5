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
