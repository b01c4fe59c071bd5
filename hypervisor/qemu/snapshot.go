package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/internal/poll"
)

// A snapshot directory written by the driver holds:
//
//	qemu.json    the manifest (snapshotManifest): what a restore needs
//	state        the device state, as QEMU's migration stream
//	mem          guest RAM, in memory mode "file" (sparse)
//	diskN.qcow2  the frozen image of each writable qcow2 disk N
//
// In memory mode "file" the VM's RAM is a shared memory file
// (Config.MemoryFile): the stream skips it (x-ignore-shared) and the file
// is copied to mem, which restores map copy-on-write, so clones share its
// page cache. A VM that was itself restored maps a snapshot's mem
// privately; its RAM is not shared, so it travels in the stream (memory
// mode "stream") and snapshots chain to any depth.
//
// A frozen disk image may have a backing file in a parent snapshot (the
// snapshot of a restored VM): that parent must outlive this snapshot, as
// must the snapshot under every restored VM's overlay.
const (
	manifestFile = "qemu.json"
	stateFile    = "state"
	memFile      = "mem"
)

// The memory modes of a snapshot.
const (
	MemoryFile   = "file"
	MemoryStream = "stream"
)

// manifestFormat is the version of qemu.json this driver writes and reads.
const manifestFormat = 1

// snapshotManifest is qemu.json.
type snapshotManifest struct {
	Format int `json:"format"`
	// QEMUVersion is the first line of qemu --version of the writer.
	QEMUVersion string `json:"qemu_version"`
	// Launch is the source VM's machine, accelerator and agent transport.
	Launch launch `json:"launch"`
	// Config is the source VM's configuration; Disks name the frozen
	// images relative to the snapshot (diskN.qcow2), or absolute paths
	// of read-only disks, which are not copied.
	Config hypervisor.Config `json:"config"`
	// Memory is MemoryFile or MemoryStream.
	Memory string `json:"memory"`
	// RAMBackend is "mem" when the source's RAM was a memory backend
	// object called mem, "" when it was QEMU's default (-m alone): the
	// restore must name its RAM block the same.
	RAMBackend string `json:"ram_backend,omitempty"`
	// Disks holds per disk its virtual size, for the restore's overlays.
	DiskSizes []int64   `json:"disk_sizes,omitempty"`
	Created   time.Time `json:"created"`
	// AgentQuiesced says the host hung up the agent channel before the
	// snapshot, so the guest's agent waits for a new host in it and a
	// restore's first session needs no probing for a stale one.
	AgentQuiesced bool `json:"agent_quiesced,omitempty"`
}

func readManifest(dir string) (snapshotManifest, error) {
	var m snapshotManifest
	b, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return m, errdefs.NotFound("no qemu snapshot in %s: %v", dir, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errdefs.Invalid("qemu snapshot %s: %s is damaged: %v", dir, manifestFile, err)
	}
	if m.Format != manifestFormat {
		return m, errdefs.Invalid("qemu snapshot %s: format %d, this driver reads %d", dir, m.Format, manifestFormat)
	}
	return m, nil
}

// blockInfo is one entry of query-block.
type blockInfo struct {
	Device   string `json:"device"`
	Inserted *struct {
		File     string `json:"file"`
		NodeName string `json:"node-name"`
		Image    struct {
			VirtualSize int64  `json:"virtual-size"`
			Filename    string `json:"filename"`
		} `json:"image"`
	} `json:"inserted"`
}

// Snapshot writes a snapshot of the VM into dir, which must not exist or
// be empty. The guest is paused for the length of the call and resumes
// afterwards unless it was paused before. Writable qcow2 disks are frozen
// into dir and the VM continues on new overlays in its own directory;
// writable raw disks cannot be snapshotted. On error the VM resumes (if it
// was running) and what was written into dir is removed.
func (vm *VM) Snapshot(ctx context.Context, dir string) (_ hypervisor.SnapshotInfo, err error) {
	vm.snapMu.Lock()
	defer vm.snapMu.Unlock()
	cfg, err := vm.snapshotConfig(dir)
	if err != nil {
		return hypervisor.SnapshotInfo{}, err
	}
	var written []string
	created, err := makeSnapshotDir(dir)
	if err != nil {
		return hypervisor.SnapshotInfo{}, err
	}
	defer func() {
		if err != nil {
			removeSnapshot(dir, created, written)
		}
	}()
	resume, quiesced, err := vm.pauseForSnapshot(ctx)
	if err != nil {
		return hypervisor.SnapshotInfo{}, fmt.Errorf("snapshot of vm %s: %w", vm.id, err)
	}
	defer func() {
		if rerr := resume(); rerr != nil && err == nil {
			err = fmt.Errorf("snapshot of vm %s: resuming: %w", vm.id, rerr)
		}
	}()
	started := time.Now()
	m, frozen, err := vm.writeSnapshot(ctx, dir, cfg, quiesced, &written)
	if err != nil {
		return hypervisor.SnapshotInfo{}, fmt.Errorf("snapshot of vm %s: %w", vm.id, err)
	}
	vm.continueOnOverlays(cfg, frozen)
	info := hypervisor.SnapshotInfo{
		Dir:        dir,
		VMM:        "qemu",
		VMMVersion: vm.drv.version,
		Files:      written,
		Config:     m.Config,
		Memory:     m.Memory,
	}
	vm.log.Info("snapshot written", "dir", dir, "memory", m.Memory, "paused", time.Since(started).Round(time.Millisecond))
	return info, nil
}

// snapshotConfig checks that the VM can be snapshotted into dir and
// returns its configuration (a copy).
func (vm *VM) snapshotConfig(dir string) (hypervisor.Config, error) {
	if vm.rec.Config == nil {
		return hypervisor.Config{}, errdefs.Invalid("vm %s was started by an older driver that did not record its configuration; reboot it to snapshot it", vm.id)
	}
	cfg := *vm.rec.Config
	cfg.Disks = slices.Clone(cfg.Disks)
	for i, d := range cfg.Disks {
		if d.Format != "qcow2" && !d.ReadOnly {
			return cfg, errdefs.Invalid("vm %s disk %d (%s) is a writable %s disk: only qcow2 disks can be snapshotted; use a qcow2 overlay over it", vm.id, i, d.Path, d.Format)
		}
	}
	if !filepath.IsAbs(dir) {
		return cfg, errdefs.Invalid("snapshot dir %q: must be an absolute path", dir)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return cfg, fmt.Errorf("snapshot dir %s is not empty: %w", dir, errdefs.ErrAlreadyExists)
	}
	return cfg, nil
}

// makeSnapshotDir makes dir if needed and says whether it did.
func makeSnapshotDir(dir string) (created bool, err error) {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating snapshot dir: %w", err)
	}
	return statErr != nil, nil
}

// removeSnapshot undoes a failed snapshot: the directory if it made it,
// else the files it wrote there.
func removeSnapshot(dir string, created bool, written []string) {
	if created {
		os.RemoveAll(dir)
		return
	}
	for _, f := range written {
		os.Remove(filepath.Join(dir, f))
	}
}

// pauseForSnapshot hangs up the agent channel and pauses a running VM.
// resume lets it run again unless it was paused before; it runs even when
// ctx has ended, since a VM must not stay paused because a request gave
// up. quiesced says the agent channel was hung up first.
func (vm *VM) pauseForSnapshot(ctx context.Context) (resume func() error, quiesced bool, err error) {
	var st struct {
		Status string `json:"status"`
	}
	if err := vm.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
		return nil, false, err
	}
	if st.Status != "running" && st.Status != "paused" && st.Status != "postmigrate" {
		return nil, false, errdefs.Conflict("the vm is %s", st.Status)
	}
	quiesced = vm.quiesceAgent(ctx)
	if st.Status != "running" {
		return func() error { return nil }, quiesced, nil
	}
	if err := vm.qmp.Execute(ctx, "stop", nil, nil); err != nil {
		return nil, false, fmt.Errorf("pausing: %w", err)
	}
	return func() error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return vm.qmp.Execute(rctx, "cont", nil, nil)
	}, quiesced, nil
}

// writeSnapshot writes the paused VM into dir: disks first (once the
// migration has completed QEMU has let go of its images until the guest
// runs again), then the device state, the memory file and the manifest.
// Each file is added to *written as it is made; on error the frozen disks
// are switched back.
func (vm *VM) writeSnapshot(ctx context.Context, dir string, cfg hypervisor.Config, quiesced bool, written *[]string) (_ snapshotManifest, _ []frozenDisk, err error) {
	m := snapshotManifest{
		AgentQuiesced: quiesced,
		Format:        manifestFormat,
		QEMUVersion:   vm.drv.version,
		Launch:        vm.rec.Launch,
		Memory:        MemoryStream,
		Created:       time.Now().UTC(),
	}
	if vm.rec.RAM != "" {
		m.RAMBackend = "mem"
	}
	if vm.rec.RAM == ramShared {
		m.Memory = MemoryFile
	}
	frozen, sizes, undo, err := vm.freezeDisks(ctx, dir, cfg.Disks)
	if err != nil {
		return m, nil, err
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	for i, d := range cfg.Disks {
		if !d.ReadOnly {
			*written = append(*written, filepath.Base(frozen[i].Path))
		}
	}
	m.DiskSizes = sizes

	*written = append(*written, stateFile)
	if err := vm.migrateTo(ctx, filepath.Join(dir, stateFile)); err != nil {
		return m, nil, err
	}
	if m.Memory == MemoryFile {
		*written = append(*written, memFile)
		if _, err := copySparse(cfg.MemoryFile, filepath.Join(dir, memFile)); err != nil {
			return m, nil, fmt.Errorf("copying guest memory: %w", err)
		}
	}

	m.Config = cfg
	m.Config.Dir = ""
	m.Config.MemoryFile = ""
	m.Config.Disks = make([]hypervisor.Disk, len(cfg.Disks))
	for i, d := range cfg.Disks {
		m.Config.Disks[i] = d
		if !d.ReadOnly {
			m.Config.Disks[i].Path = filepath.Base(frozen[i].Path)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, nil, err
	}
	*written = append(*written, manifestFile)
	if err := os.WriteFile(filepath.Join(dir, manifestFile), b, 0o600); err != nil {
		return m, nil, err
	}
	return m, frozen, nil
}

// continueOnOverlays records that the VM now runs on the new overlays of
// its frozen disks, and lets go of the overlays an earlier snapshot made
// (they live on in the snapshot they were frozen into).
func (vm *VM) continueOnOverlays(cfg hypervisor.Config, frozen []frozenDisk) {
	newCfg := *vm.rec.Config
	newCfg.Disks = make([]hypervisor.Disk, len(cfg.Disks))
	for i, d := range cfg.Disks {
		newCfg.Disks[i] = d
		if !d.ReadOnly {
			newCfg.Disks[i].Path = frozen[i].Overlay
		}
	}
	rec := vm.rec
	rec.Config = &newCfg
	rec.Snapshots++
	rec.Overlays = nil
	for _, f := range frozen {
		if f.Overlay != "" {
			rec.Overlays = append(rec.Overlays, f.Overlay)
		}
	}
	if err := writeRecord(vm.dir, rec); err != nil {
		vm.log.Warn("cannot update the launch record after a snapshot", "err", err)
	}
	vm.rec = rec
	for i, d := range cfg.Disks {
		if !d.ReadOnly && frozen[i].Owned {
			os.Remove(d.Path)
		}
	}
}

// frozenDisk is a disk captured by freezeDisks.
type frozenDisk struct {
	// Path is the frozen image in the snapshot dir.
	Path string
	// Overlay is the VM's new active image.
	Overlay string
	// Owned is true when the old active image was an overlay the driver
	// made in the VM directory.
	Owned bool
}

// freezeDisks captures every writable disk while the VM is paused: the
// active image is hard-linked (or copied) into dir, and QEMU switches to a
// new overlay in the VM directory whose backing file is that frozen copy.
// undo switches the overlays' backing files back and removes them from
// the header's point of view, for a snapshot that fails later.
func (vm *VM) freezeDisks(ctx context.Context, dir string, disks []hypervisor.Disk) (_ []frozenDisk, sizes []int64, undo func(), err error) {
	var undos []func()
	undo = func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	frozen := make([]frozenDisk, len(disks))
	sizes = make([]int64, len(disks))
	var blocks []blockInfo
	if len(disks) > 0 {
		if err := vm.qmp.Execute(ctx, "query-block", nil, &blocks); err != nil {
			return nil, nil, undo, err
		}
	}
	for i, d := range disks {
		if d.ReadOnly {
			continue
		}
		dev := fmt.Sprintf("disk%d", i)
		var bi *blockInfo
		for j := range blocks {
			if blocks[j].Device == dev && blocks[j].Inserted != nil {
				bi = &blocks[j]
			}
		}
		if bi == nil {
			return nil, nil, undo, fmt.Errorf("disk %d: qemu has no block device %s", i, dev)
		}
		sizes[i] = bi.Inserted.Image.VirtualSize
		dst := filepath.Join(dir, fmt.Sprintf("disk%d.qcow2", i))
		if err := linkOrCopy(d.Path, dst); err != nil {
			return nil, nil, undo, fmt.Errorf("disk %d: freezing %s: %w", i, d.Path, err)
		}
		undos = append(undos, func() { os.Remove(dst) })
		overlay := filepath.Join(vm.dir, fmt.Sprintf("disk%d.%d.qcow2", i, vm.rec.Snapshots+1))
		if err := vm.drv.createOverlay(ctx, overlay, dst, sizes[i]); err != nil {
			return nil, nil, undo, fmt.Errorf("disk %d: %w", i, err)
		}
		node := fmt.Sprintf("disk%d-snap%d", i, vm.rec.Snapshots+1)
		err := vm.qmp.Execute(ctx, "blockdev-snapshot-sync", map[string]any{
			"device":             dev,
			"snapshot-file":      overlay,
			"snapshot-node-name": node,
			"format":             "qcow2",
			"mode":               "existing",
		}, nil)
		if err != nil {
			os.Remove(overlay)
			return nil, nil, undo, fmt.Errorf("disk %d: switching to a new overlay: %w", i, err)
		}
		old := d.Path
		undos = append(undos, func() {
			// The VM stays on the new overlay; its header must name an
			// image that outlives this failed snapshot: the old one.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := vm.qmp.Execute(ctx, "change-backing-file", map[string]any{
				"device": dev, "image-node-name": node, "backing-file": old,
			}, nil); err != nil {
				vm.log.Warn("cannot point a disk overlay back at its old image", "disk", i, "err", err)
			}
		})
		frozen[i] = frozenDisk{Path: dst, Overlay: overlay, Owned: slices.Contains(vm.rec.Overlays, d.Path)}
	}
	return frozen, sizes, undo, nil
}

// createOverlay makes a qcow2 overlay at path over backing (qcow2), of
// size bytes. It does not open backing (-u): a running QEMU may hold its
// write lock.
func (d *Driver) createOverlay(ctx context.Context, path, backing string, size int64) error {
	if d.qemuImg == "" {
		return errdefs.Unavailable("qemu-img not found: install qemu-utils to snapshot or restore disks")
	}
	cmd := exec.CommandContext(ctx, d.qemuImg, "create", "-q", "-f", "qcow2", "-u",
		"-b", backing, "-F", "qcow2", path, fmt.Sprint(size))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("creating overlay %s: %v: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// migrateTo saves the device state (and RAM that is not shared) into
// path with a migration to a descriptor of it, and waits until it is done.
func (vm *VM) migrateTo(ctx context.Context, path string) error {
	if err := vm.setMigrationCaps(ctx); err != nil {
		return err
	}
	// The guest is paused; there is nothing to throttle.
	if err := vm.qmp.Execute(ctx, "migrate-set-parameters", map[string]any{
		"max-bandwidth": int64(1) << 40,
	}, nil); err != nil {
		return err
	}
	if err := vm.passStateFile(ctx, path, true); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if err := vm.qmp.Execute(ctx, "migrate", map[string]any{"uri": "fd:" + stateFDName}, nil); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	if err := vm.waitMigration(ctx); err != nil {
		if !errors.Is(err, errMigrationFailed) {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			vm.qmp.Execute(cctx, "migrate_cancel", nil, nil)
			cancel()
		}
		return fmt.Errorf("saving state: %w", err)
	}
	if err := vm.waitFinalized(ctx); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	return nil
}

// waitFinalized waits until QEMU has left the run state finish-migrate.
// query-migrate says completed a moment before the migration thread sets
// the next run state (postmigrate), and a cont in between is refused
// ("Migration is not finalized yet"); QEMU sends no event for it.
func (vm *VM) waitFinalized(ctx context.Context) error {
	return poll.Until(ctx, poll.Backoff{First: time.Millisecond, Max: 20 * time.Millisecond}, func(ctx context.Context) error {
		var st struct {
			Status string `json:"status"`
		}
		if err := vm.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
			return poll.Permanent(err)
		}
		if st.Status == "finish-migrate" {
			return errNotFinalized
		}
		return nil
	})
}

// errNotFinalized is an attempt of waitFinalized that found QEMU still in
// finish-migrate.
var errNotFinalized = errors.New("qemu has not finalized the migration")

func (vm *VM) setMigrationCaps(ctx context.Context) error {
	return vm.qmp.Execute(ctx, "migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": true}},
	}, nil)
}

var errMigrationFailed = errors.New("migration failed")

// waitMigration polls query-migrate until the migration (outgoing, or
// incoming on a restoring QEMU) has completed or failed.
func (vm *VM) waitMigration(ctx context.Context) error {
	delay := 2 * time.Millisecond
	for {
		var st struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := vm.qmp.Execute(ctx, "query-migrate", nil, &st); err != nil {
			if vm.proc.exited(time.Second) {
				return fmt.Errorf("%w: %w", errMigrationFailed, vm.exitError())
			}
			return err
		}
		switch st.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			if st.ErrorDesc == "" {
				st.ErrorDesc = "qemu said " + st.Status + "; see " + filepath.Join(vm.dir, qemuLog) + ": " + tail(filepath.Join(vm.dir, qemuLog), 512)
			}
			return fmt.Errorf("%w: %s", errMigrationFailed, st.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}
