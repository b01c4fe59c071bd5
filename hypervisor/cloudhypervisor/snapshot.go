package cloudhypervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// Files Cloud Hypervisor writes into a snapshot directory, and the
// driver's own manifest beside them.
const (
	snapConfig   = "config.json"
	snapMemory   = "memory-ranges"
	snapState    = "state.json"
	snapManifest = "volant-snapshot.json"
)

// Memory restore modes (components/schemas/MemoryRestoreMode).
const (
	restoreCopy     = "Copy"
	restoreOnDemand = "OnDemand"
)

// manifest is the driver's record of a snapshot.
type manifest struct {
	VMMVersion string            `json:"vmm_version"`
	Config     hypervisor.Config `json:"config"`
	// Disks are the snapshot's images: writable ones copied into the
	// snapshot directory (paths relative to it), read-only ones by their
	// absolute path.
	Disks []hypervisor.Disk `json:"disks,omitempty"`
}

// Snapshot pauses the VM (if it runs), has Cloud Hypervisor write its
// config, memory and device state into dir (vm.snapshot), copies each
// writable disk beside them (the VM must not write while they are copied),
// and resumes it if it was running.
func (vm *VM) Snapshot(ctx context.Context, dir string) (info hypervisor.SnapshotInfo, err error) {
	st, err := vm.State(ctx)
	if err != nil {
		return info, fmt.Errorf("snapshot of %s: %w", vm.id, err)
	}
	switch st {
	case hypervisor.StateRunning:
		if err := vm.Pause(ctx); err != nil {
			return info, fmt.Errorf("snapshot of %s: pausing: %w", vm.id, err)
		}
		defer func() {
			if rerr := vm.Resume(context.WithoutCancel(ctx)); rerr != nil && err == nil {
				err = fmt.Errorf("snapshot of %s: resuming: %w", vm.id, rerr)
			}
		}()
	case hypervisor.StatePaused:
	default:
		return info, errdefs.Conflict("snapshot of %s: the vm is %s", vm.id, st)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return info, err
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return info, errdefs.Conflict("snapshot of %s: %s is not empty", vm.id, dir)
	}
	defer func() {
		if err != nil {
			removeContents(dir)
		}
	}()
	if err := vm.api.snapshot(ctx, dir); err != nil {
		return info, fmt.Errorf("snapshot of %s: %w", vm.id, err)
	}
	m := manifest{VMMVersion: vm.d.version, Config: vm.rec.Config}
	files := []string{snapConfig, snapMemory, snapState}
	for i, d := range vm.rec.Disks {
		if d.ReadOnly {
			m.Disks = append(m.Disks, d)
			continue
		}
		name := fmt.Sprintf("disk%d.%s", i, d.Format)
		if err := copySparse(d.Path, filepath.Join(dir, name)); err != nil {
			return info, fmt.Errorf("snapshot of %s: copying disk %d: %w", vm.id, i, err)
		}
		m.Disks = append(m.Disks, hypervisor.Disk{Path: name, Format: d.Format})
		files = append(files, name)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return info, err
	}
	if err := os.WriteFile(filepath.Join(dir, snapManifest), b, 0o600); err != nil {
		return info, err
	}
	files = append(files, snapManifest)
	return hypervisor.SnapshotInfo{Dir: dir, VMM: Name, VMMVersion: vm.d.version, Files: files, Config: m.Config, Memory: "memory-ranges"}, nil
}

func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

func readManifest(dir string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(filepath.Join(dir, snapManifest))
	if err != nil {
		return m, errdefs.Invalid("%s is not a cloud-hypervisor snapshot: %v", dir, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errdefs.Invalid("snapshot manifest in %s: %v", dir, err)
	}
	return m, nil
}

// Restore starts a VM from the snapshot in snapshotDir with cfg's
// identity. It re-binds what is the new VM's own (see hypervisor.Restorer):
// each writable disk becomes a copy in cfg.Dir, the network interface uses
// cfg.Net.Tap, and the vsock and serial sockets live in cfg.Dir; Cloud
// Hypervisor reads a rewritten config.json beside links to the snapshot's
// memory and device state. Memory is faulted in on demand (userfaultfd)
// where the host allows it, else copied up front; cfg.MemoryFile is
// ignored. The guest resumes where the snapshot left it and keeps its MAC
// address until it is given a new one.
func (d *Driver) Restore(ctx context.Context, cfg hypervisor.Config, snapshotDir string) (_ hypervisor.VM, err error) {
	m, err := readManifest(snapshotDir)
	if err != nil {
		return nil, err
	}
	cfg = restoreDefaults(cfg, m.Config)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkRestorable(d.version, m, cfg); err != nil {
		return nil, fmt.Errorf("restoring %s from %s: %w", cfg.ID, snapshotDir, err)
	}
	raw, err := os.ReadFile(filepath.Join(snapshotDir, snapConfig))
	if err != nil {
		return nil, errdefs.Invalid("restoring %s: %v", cfg.ID, err)
	}
	// The new VM's disks: copies of the snapshot's writable ones.
	disks := slices.Clone(m.Disks)
	bind := restoreBindings{Dir: cfg.Dir, Tap: cfg.Net.Tap, Disks: make([]string, len(disks))}
	for i, dk := range disks {
		if !dk.ReadOnly {
			disks[i].Path = filepath.Join(cfg.Dir, filepath.Base(dk.Path))
			bind.Disks[i] = disks[i].Path
		}
	}
	rebound, err := rebindConfig(raw, bind)
	if err != nil {
		return nil, errdefs.Invalid("restoring %s: %v", cfg.ID, err)
	}
	cfg.Disks = disks
	cfg.MemoryFile = ""
	vm, err := d.launch(ctx, cfg, record{ID: cfg.ID, Config: cfg, Disks: disks})
	if err != nil {
		return nil, fmt.Errorf("restoring %s: %w", cfg.ID, err)
	}
	defer func() {
		if err != nil {
			_ = vm.Kill()
		}
	}()
	for i, dk := range m.Disks {
		if !dk.ReadOnly {
			if err := copySparse(filepath.Join(snapshotDir, dk.Path), disks[i].Path); err != nil {
				return nil, fmt.Errorf("restoring %s: copying disk %d: %w", cfg.ID, i, err)
			}
		}
	}
	src := filepath.Join(cfg.Dir, restoreDir)
	if err := os.MkdirAll(src, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, snapConfig), rebound, 0o600); err != nil {
		return nil, err
	}
	for _, f := range []string{snapMemory, snapState} {
		if err := os.Symlink(filepath.Join(snapshotDir, f), filepath.Join(src, f)); err != nil {
			return nil, err
		}
	}
	rc := buildRestoreConfig(src, userfaultfdAllowed())
	if err := vm.api.restore(ctx, rc); err != nil {
		return nil, fmt.Errorf("restoring %s: %w%s", cfg.ID, err, vm.vmmLogTail())
	}
	vm.startConsole(ctx)
	d.log.Info("vm restored", "vm", cfg.ID, "pid", vm.PID(), "snapshot", snapshotDir, "memory", rc.MemoryRestoreMode)
	return vm, nil
}

// restoreDefaults fills what cfg leaves open from the snapshot's config:
// size, payload and command line are the snapshot's.
func restoreDefaults(cfg, snap hypervisor.Config) hypervisor.Config {
	if cfg.Net.Mode == "" {
		cfg.Net.Mode = hypervisor.NetNone
	}
	if cfg.VCPUs == 0 {
		cfg.VCPUs = snap.VCPUs
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = snap.MemoryMiB
	}
	if cfg.Kernel == "" {
		cfg.Kernel = snap.Kernel
	}
	if cfg.Initramfs == "" {
		cfg.Initramfs = snap.Initramfs
	}
	cfg.Cmdline = snap.Cmdline
	return cfg
}

// checkRestorable says what keeps a VM of cfg from being restored from
// the snapshot m by a VMM of version.
func checkRestorable(version string, m manifest, cfg hypervisor.Config) error {
	snap := m.Config
	var diffs []string
	if m.VMMVersion != version {
		diffs = append(diffs, fmt.Sprintf("it was written by %q, this host runs %q", m.VMMVersion, version))
	}
	if cfg.VCPUs != snap.VCPUs {
		diffs = append(diffs, fmt.Sprintf("vcpus %d, the snapshot has %d", cfg.VCPUs, snap.VCPUs))
	}
	if cfg.MemoryMiB != snap.MemoryMiB {
		diffs = append(diffs, fmt.Sprintf("memory %d MiB, the snapshot has %d MiB", cfg.MemoryMiB, snap.MemoryMiB))
	}
	hasNet := func(c hypervisor.Config) bool { return c.Net.Mode != hypervisor.NetNone && c.Net.Mode != "" }
	if hasNet(cfg) != hasNet(snap) {
		diffs = append(diffs, fmt.Sprintf("net mode %s, the snapshot's guest has net mode %s (a network interface must be there in both or neither)", cfg.Net.Mode, snap.Net.Mode))
	}
	if cfg.Net.Mode == hypervisor.NetUser {
		diffs = append(diffs, "net mode user: cloud-hypervisor has no user-mode network stack")
	}
	if len(cfg.Disks) > 0 && len(cfg.Disks) != len(m.Disks) {
		diffs = append(diffs, fmt.Sprintf("%d disks, the snapshot has %d", len(cfg.Disks), len(m.Disks)))
	}
	if len(diffs) > 0 {
		return errdefs.Invalid("snapshot does not fit: %s", strings.Join(diffs, "; "))
	}
	return nil
}

// buildRestoreConfig is the vm.restore body for the restore source dir
// src: the guest resumes at once, its memory faulted in on demand when the
// host allows userfaultfd, else copied.
func buildRestoreConfig(src string, userfaultfd bool) restoreConfig {
	resume := true
	return restoreConfig{SourceURL: "file://" + src, MemoryRestoreMode: restoreMode(userfaultfd), Resume: &resume}
}

// restoreMode prefers faulting guest memory in on demand, which needs
// userfaultfd; Copy reads all of it before the guest resumes.
func restoreMode(userfaultfd bool) string {
	if userfaultfd {
		return restoreOnDemand
	}
	return restoreCopy
}

// userfaultfdAllowed reports whether this process may create a
// userfaultfd (the syscall exists and is not refused by
// vm.unprivileged_userfaultfd or a seccomp filter).
func userfaultfdAllowed() bool {
	fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, uintptr(unix.O_CLOEXEC|unix.O_NONBLOCK), 0, 0)
	if errno != 0 {
		return false
	}
	unix.Close(int(fd))
	return true
}
