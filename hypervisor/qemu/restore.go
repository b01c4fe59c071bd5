package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

var (
	_ hypervisor.Snapshotter = (*VM)(nil)
	_ hypervisor.Restorer    = (*Driver)(nil)
)

// Restore starts a VM from the snapshot in snapshotDir, with cfg's
// identity (ID, Dir, console limit) and network backend and MAC. The
// guest resumes where the snapshot left it. Its device set must match the
// snapshot's: VCPUs, MemoryMiB and the number and formats of disks (0
// means take the snapshot's), and whether it has a network interface;
// otherwise the error wraps errdefs.ErrInvalidArgument and says what
// differs. Kernel and Initramfs, when empty, are the snapshot's (QEMU
// needs them to build the same machine, not to boot).
//
// In memory mode "file" the guest RAM maps the snapshot's mem file
// copy-on-write (cfg.MemoryFile is ignored); in mode "stream" it is
// anonymous memory, or cfg.MemoryFile shared when set (so a snapshot of
// this VM is in mode "file" again). Each writable disk becomes a new qcow2
// overlay in cfg.Dir over the snapshot's frozen image. Nothing is written
// into snapshotDir; it must outlive the VM.
//
// The guest keeps the MAC address it had (virtio-net migrates it) until
// it is given the new one; the new backend (tap or user) carries frames
// whatever the guest's address.
func (d *Driver) Restore(ctx context.Context, cfg hypervisor.Config, snapshotDir string) (_ hypervisor.VM, err error) {
	t0 := time.Now()
	m, err := readManifest(snapshotDir)
	if err != nil {
		return nil, err
	}
	if cfg, err = d.restoreConfig(cfg, m); err != nil {
		return nil, fmt.Errorf("restoring %s from %s: %w", cfg.ID, snapshotDir, err)
	}
	l, err := d.restoreLaunch(ctx, cfg, m)
	if err != nil {
		return nil, err
	}
	if err := prepareVMDir(cfg.Dir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(cfg.Dir)
		}
	}()
	var overlays []string
	if cfg.Disks, overlays, err = d.restoreDisks(ctx, cfg, m, snapshotDir); err != nil {
		return nil, err
	}
	ram, recRAM := restoreRAM(m, snapshotDir, cfg.MemoryFile)
	if recRAM != ramShared {
		cfg.MemoryFile = ""
	}
	limit := cfg.ConsoleLogBytes
	if limit <= 0 {
		limit = defaultConsoleLogBytes
	}
	rec := record{ID: cfg.ID, ConsoleLogBytes: limit, Launch: l, Config: &cfg, RAM: recRAM, Overlays: overlays}
	if err := writeRecord(cfg.Dir, rec); err != nil {
		return nil, fmt.Errorf("restoring %s: %w", cfg.ID, err)
	}
	t1 := time.Now()
	vm, err := d.start(ctx, cfg, rec, buildRestoreArgs(cfg, l, ram))
	if err != nil {
		return nil, fmt.Errorf("restoring %s: %w", cfg.ID, err)
	}
	defer func() {
		if err != nil {
			vm.kill()
			vm.Close()
		}
	}()
	t2 := time.Now()
	if err := vm.loadState(ctx, snapshotDir); err != nil {
		return nil, fmt.Errorf("restoring %s: %w", cfg.ID, err)
	}
	t3 := time.Now()
	vm.agentStale = !m.AgentQuiesced
	if err := vm.qmp.Execute(ctx, "cont", nil, nil); err != nil {
		return nil, fmt.Errorf("restoring %s: resuming the guest: %w", cfg.ID, err)
	}
	d.log.Info("vm restored", "vm", cfg.ID, "pid", vm.PID(), "snapshot", snapshotDir, "memory", m.Memory,
		"prepare", t1.Sub(t0).Round(100*time.Microsecond), "start", t2.Sub(t1).Round(100*time.Microsecond),
		"load", t3.Sub(t2).Round(100*time.Microsecond), "cont", time.Since(t3).Round(100*time.Microsecond))
	return vm, nil
}

// restoreConfig completes cfg from the snapshot's own configuration (what
// cfg leaves zero, and the command line, which a restore cannot change)
// and checks that this driver can restore the snapshot into it.
func (d *Driver) restoreConfig(cfg hypervisor.Config, m snapshotManifest) (hypervisor.Config, error) {
	snap := m.Config
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
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, checkRestorable(d.version, d.vsock, m, cfg)
}

// restoreLaunch is the machine a restore starts: the snapshot's, under
// the same accelerator, with the new VM's vsock CID.
func (d *Driver) restoreLaunch(ctx context.Context, cfg hypervisor.Config, m snapshotManifest) (launch, error) {
	dec, err := d.accelFor(ctx, cfg.Kernel)
	if err != nil {
		return launch{}, fmt.Errorf("restoring %s: %w", cfg.ID, err)
	}
	if dec.Accel != m.Launch.Accel {
		return launch{}, errdefs.Invalid("restoring %s: the snapshot was taken under %s, this host runs guests of this kernel under %s (%s)", cfg.ID, m.Launch.Accel, dec.Accel, dec.Reason)
	}
	l := m.Launch
	if l.Accel == AccelTCG {
		noHugePages()
	}
	if l.VsockCID != 0 {
		l.VsockCID = vsockCID(cfg.ID)
	}
	return l, nil
}

// prepareVMDir makes a restore's VM directory, refusing one a live QEMU
// runs in and clearing what a dead one left.
func prepareVMDir(dir string) error {
	if pid, err := readPID(filepath.Join(dir, pidFile)); err == nil && isQEMUFor(pid, dir) {
		return fmt.Errorf("vm dir %s: %w", dir, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating vm dir: %w", err)
	}
	for _, f := range []string{qmpSocket, agentSocket, consoleSocket, pidFile, consoleLog} {
		os.Remove(filepath.Join(dir, f))
	}
	return nil
}

// restoreDisks gives each writable disk of the snapshot a new qcow2
// overlay in cfg.Dir over its frozen image, and returns the disks the VM
// starts with and the overlays made.
func (d *Driver) restoreDisks(ctx context.Context, cfg hypervisor.Config, m snapshotManifest, snapshotDir string) ([]hypervisor.Disk, []string, error) {
	disks := slices.Clone(m.Config.Disks)
	var overlays []string
	for i, disk := range disks {
		if disk.ReadOnly {
			continue
		}
		overlay := filepath.Join(cfg.Dir, fmt.Sprintf("disk%d.qcow2", i))
		os.Remove(overlay)
		if err := d.createOverlay(ctx, overlay, filepath.Join(snapshotDir, disk.Path), m.DiskSizes[i]); err != nil {
			return nil, nil, fmt.Errorf("restoring %s: disk %d: %w", cfg.ID, i, err)
		}
		disks[i].Path = overlay
		overlays = append(overlays, overlay)
	}
	return disks, overlays, nil
}

// loadState loads the snapshot's device state (and streamed RAM) into a
// VM started with -incoming defer, and waits until it is in.
func (vm *VM) loadState(ctx context.Context, snapshotDir string) error {
	if err := vm.setMigrationCaps(ctx); err != nil {
		return err
	}
	// No self-announce after the load: QEMU would otherwise have the
	// guest announce its NIC five times in the first second (a netlink
	// broadcast and gratuitous ARP each time), about 900 more blocks of
	// guest code to translate under TCG while the first requests wait. A
	// restored guest gets a new tap and usually a new address and MAC
	// (reconfigure), so there is no switch whose tables must learn a
	// move; its first packet teaches the bridge.
	if err := vm.qmp.Execute(ctx, "migrate-set-parameters", map[string]any{"announce-rounds": 0}, nil); err != nil {
		return fmt.Errorf("turning off the self-announce: %w", err)
	}
	if err := vm.passStateFile(ctx, filepath.Join(snapshotDir, stateFile), false); err != nil {
		return fmt.Errorf("loading state: %w", err)
	}
	if err := vm.qmp.Execute(ctx, "migrate-incoming", map[string]any{"uri": "fd:" + stateFDName}, nil); err != nil {
		return fmt.Errorf("loading state: %w", err)
	}
	if err := vm.waitMigration(ctx); err != nil {
		return fmt.Errorf("loading state: %w", err)
	}
	return nil
}

// restoreRAM decides how a restore backs guest RAM, and what the record
// says about it.
func restoreRAM(m snapshotManifest, snapshotDir, memoryFile string) (ramSpec, string) {
	switch {
	case m.Memory == MemoryFile:
		return ramSpec{Backend: "memory-backend-file", Path: filepath.Join(snapshotDir, memFile)}, ramPrivate
	case m.RAMBackend == "":
		// The source used QEMU's default RAM block; so must we.
		return ramSpec{}, ""
	case memoryFile != "":
		return ramSpec{Backend: "memory-backend-file", Path: memoryFile, Shared: true}, ramShared
	default:
		return ramSpec{Backend: "memory-backend-ram"}, ramAnon
	}
}

// checkRestorable says what keeps a VM of cfg from being restored from
// the snapshot m by a driver of qemuVersion.
func checkRestorable(qemuVersion string, vsock bool, m snapshotManifest, cfg hypervisor.Config) error {
	snap := m.Config
	var diffs []string
	if m.QEMUVersion != qemuVersion {
		diffs = append(diffs, fmt.Sprintf("it was written by %q, this host runs %q", m.QEMUVersion, qemuVersion))
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
	if len(cfg.Disks) > 0 {
		if len(cfg.Disks) != len(snap.Disks) {
			diffs = append(diffs, fmt.Sprintf("%d disks, the snapshot has %d", len(cfg.Disks), len(snap.Disks)))
		} else {
			for i := range cfg.Disks {
				if cfg.Disks[i].Format != snap.Disks[i].Format || cfg.Disks[i].ReadOnly != snap.Disks[i].ReadOnly {
					diffs = append(diffs, fmt.Sprintf("disk %d is %s (read-only %v), the snapshot's is %s (read-only %v)",
						i, cfg.Disks[i].Format, cfg.Disks[i].ReadOnly, snap.Disks[i].Format, snap.Disks[i].ReadOnly))
				}
			}
		}
	}
	if m.Launch.VsockCID != 0 && !vsock {
		diffs = append(diffs, "the snapshot's agent channel is vsock and this host has no /dev/vhost-vsock")
	}
	if len(diffs) > 0 {
		return errdefs.Invalid("snapshot does not fit: %s", strings.Join(diffs, "; "))
	}
	return nil
}
