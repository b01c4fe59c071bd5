package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/store"
)

// Hibernation: a sandbox saved to disk whose VMM has ended. It costs no
// CPU and no RAM (the snapshot, memory included, is under STATE_DIR, not
// tmpfs) and keeps its record, lease, tap name and identity. The next
// request that needs its guest (Manager.running: exec, files, processes,
// PTY, ports, actions) wakes it from the snapshot before answering; requests
// racing to wake one sandbox wait on its lock and find it running.
//
// Each hibernation writes a new snapshot dir under hibernateDir(id). A
// woken guest's RAM maps the last one's memory file, and its disks are
// overlays of the last one's, so a sandbox with writable disks (a data disk
// or an image root) keeps them all until it is stopped or deleted. One
// without keeps only its latest: a hibernation drops the older ones once
// it is written, and recovery drops what a crash left (pruneHibernations).

// hibernateDir holds a sandbox's hibernation snapshots.
func (m *Manager) hibernateDir(id string) string {
	return filepath.Join(m.cfg.StateDir, "hibernated", id)
}

// canHibernate reports whether the driver can snapshot and restore.
func (m *Manager) canHibernate() bool {
	_, ok := m.cfg.Driver.(hypervisor.Restorer)
	c := m.cfg.Driver.Capabilities()
	return ok && c.Snapshot && c.Restore
}

// Hibernate saves a running or paused sandbox to disk and ends its VMM.
// A hibernated sandbox is woken (running) by the next request to its guest.
func (m *Manager) Hibernate(ctx context.Context, idOrName string) (*Sandbox, error) {
	rec, unlock, err := m.lockRecord(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	defer unlock()
	ctx, tm := withTiming(ctx)
	defer tm.log(m.log, "hibernate timing", "sandbox", rec.ID)
	if err := m.hibernateLocked(ctx, rec); err != nil {
		return nil, err
	}
	return m.Get(ctx, rec.ID)
}

func (m *Manager) hibernateLocked(ctx context.Context, rec store.Sandbox) error {
	switch State(rec.State) {
	case StateHibernated:
		return nil
	case StateRunning, StatePaused:
	default:
		return errdefs.Conflict("sandbox %s is %s; only a running or paused sandbox can be hibernated", rec.ID, rec.State)
	}
	in, ok := m.instance(rec.ID)
	if !ok {
		return errdefs.Unavailable("sandbox %s has no live VM; get it to see why", rec.ID)
	}
	snapper, ok := in.vm.(hypervisor.Snapshotter)
	if !ok || !m.canHibernate() {
		return errdefs.WithRemedy(errdefs.Unavailable("the %s driver cannot snapshot and restore VMs, so sandbox %s cannot hibernate; stop it instead (a cold boot later)",
			m.cfg.Driver.Name(), rec.ID), errdefs.OpSandboxStop, "id", rec.ID)
	}
	dir := filepath.Join(m.hibernateDir(rec.ID), fmt.Sprintf("%020d", time.Now().UnixNano()))
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	meta := specOf(rec)
	man := Manifest{
		Version: ManifestVersion, ID: "hibernation-" + rec.ID,
		Runtime: rec.Runtime, Image: m.imageOf(rec.Runtime).ImageDigest, SandboxID: rec.ID,
		VCPUs: meta.Spec.VCPUs, MemoryMiB: meta.Spec.MemoryMiB, HasNet: meta.Spec.Network != NetworkNone,
		Network: meta.Spec.Network, RootImage: meta.Image,
	}
	// Idle agent connections would be frozen half-open in the snapshot.
	in.agent.CloseIdle()
	step(ctx, "prepare")
	info, err := snapper.Snapshot(ctx, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("hibernating %s: %w; it keeps running", rec.ID, err)
	}
	step(ctx, "snapshot")
	man.VMM, man.VMMVersion, man.Device = info.VMM, info.VMMVersion, info
	man.Created, man.SizeBytes = time.Now().UTC(), dirSize(dir)
	if err := writeManifest(dir, man); err != nil {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("hibernating %s: %w; it keeps running", rec.ID, err)
	}
	step(ctx, "manifest")
	ctx = context.WithoutCancel(ctx)
	m.shutdownVM(ctx, rec, false)
	step(ctx, "shutdown")
	m.releaseRuntime(ctx, rec, false)
	if _, err := m.setState(ctx, rec.ID, StateHibernated, ""); err != nil {
		return err
	}
	step(ctx, "record")
	m.pruneHibernations(rec, dir)
	return nil
}

// chainsHibernations reports whether rec's hibernations may back onto
// each other: its writable disks are overlays of the last one's frozen
// images.
func chainsHibernations(rec store.Sandbox) bool {
	meta := specOf(rec)
	return meta.Spec.DiskMiB > 0 || meta.Image != nil
}

// pruneHibernations removes every hibernation snapshot of rec but keep
// (a dir under hibernateDir), unless they may back onto each other.
func (m *Manager) pruneHibernations(rec store.Sandbox, keep string) {
	if chainsHibernations(rec) {
		return
	}
	entries, _ := os.ReadDir(m.hibernateDir(rec.ID))
	for _, e := range entries {
		dir := filepath.Join(m.hibernateDir(rec.ID), e.Name())
		if dir == keep {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("removing an older hibernation snapshot", "sandbox", rec.ID, "dir", dir, "err", err)
		}
	}
}

// wake restores a hibernated sandbox from its last snapshot and returns its
// record; a sandbox that is no longer hibernated (another request woke it)
// is returned as it is.
func (m *Manager) wake(ctx context.Context, id string) (store.Sandbox, error) {
	rec, unlock, err := m.lockRecord(ctx, id)
	if err != nil {
		return rec, err
	}
	defer unlock()
	ctx, tm := withTiming(ctx)
	defer tm.log(m.log, "wake timing", "sandbox", rec.ID)
	if err := m.wakeLocked(ctx, rec); err != nil {
		return rec, err
	}
	return m.cfg.Store.GetSandbox(ctx, rec.ID)
}

func (m *Manager) wakeLocked(ctx context.Context, rec store.Sandbox) error {
	if State(rec.State) != StateHibernated {
		return nil
	}
	dir, man, err := m.lastHibernation(rec.ID)
	if err != nil {
		return err
	}
	meta := specOf(rec)
	spec := meta.Spec
	spec.image = imageOfRecord(rec) // images.go
	rt, err := m.runtime(ctx, spec.Runtime)
	if err != nil {
		return fmt.Errorf("the runtime of sandbox %s: %w", rec.ID, err)
	}
	if err := m.admit(rec.ID, spec); err != nil {
		return fmt.Errorf("waking hibernated sandbox %s: %w", rec.ID, err)
	}
	step(ctx, "find-admit")
	// The wake belongs to the sandbox, not to the request that asked for
	// it: a caller that gives up does not leave a half-restored guest.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.BootTimeout)
	defer cancel()
	start := time.Now()
	// The restore keeps the sandbox's own origin (meta.Restored).
	ref := &snapshotRef{id: meta.Restored, dir: dir, man: man, own: true}
	if err := m.boot(bctx, rec.ID, spec, rt, ref, nil); err != nil {
		m.unadmit(rec.ID)
		return fmt.Errorf("waking hibernated sandbox %s: %w; it stays hibernated", rec.ID, err)
	}
	m.log.Info("woke hibernated sandbox", "sandbox", rec.ID, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// lastHibernation finds the newest hibernation snapshot of id.
func (m *Manager) lastHibernation(id string) (string, Manifest, error) {
	var man Manifest
	entries, err := os.ReadDir(m.hibernateDir(id))
	if err != nil && !os.IsNotExist(err) {
		return "", man, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for i := len(names) - 1; i >= 0; i-- {
		dir := filepath.Join(m.hibernateDir(id), names[i])
		b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			continue // a hibernation cut short
		}
		if err := json.Unmarshal(b, &man); err != nil || man.Version != ManifestVersion {
			continue
		}
		return dir, man, nil
	}
	return "", man, errdefs.WithRemedy(errdefs.Unavailable("hibernated sandbox %s has no readable snapshot under %s; delete it and create a new one", id, m.hibernateDir(id)),
		errdefs.OpSandboxDelete, "id", id)
}

// releaseHibernation removes rec's hibernation snapshots on delete, unless
// a snapshot of the sandbox may hold disks that back onto them (a snapshot
// of a woken guest freezes its overlay, whose backing file is here): those
// are kept, and the daemon says so.
func (m *Manager) releaseHibernation(ctx context.Context, rec store.Sandbox) {
	if _, err := os.Stat(m.hibernateDir(rec.ID)); err != nil {
		return
	}
	if meta := specOf(rec); meta.Spec.DiskMiB > 0 || meta.Image != nil {
		snaps, err := m.cfg.Store.ListSnapshots(ctx)
		for _, sn := range snaps {
			if sn.SandboxID == rec.ID || err != nil {
				m.log.Warn("keeping hibernation snapshots that a snapshot of the sandbox may back onto", "sandbox", rec.ID, "dir", m.hibernateDir(rec.ID))
				return
			}
		}
	}
	m.dropHibernation(rec.ID)
}

// dropHibernation removes every hibernation snapshot of id.
func (m *Manager) dropHibernation(id string) {
	if err := os.RemoveAll(m.hibernateDir(id)); err != nil {
		m.log.Warn("removing hibernation snapshots", "sandbox", id, "err", err)
	}
}

// sweepHibernations removes the hibernation snapshots of sandboxes that
// are gone (a delete cut short). A running sandbox keeps its own (a woken
// guest's disks are overlays of them), as does a deleted one that
// snapshots were taken of.
func (m *Manager) sweepHibernations(ctx context.Context, all []store.Sandbox) {
	known := make(map[string]bool, len(all))
	for _, r := range all {
		known[r.ID] = true
	}
	snaps, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return
	}
	for _, sn := range snaps {
		known[sn.SandboxID] = true // see releaseHibernation
	}
	entries, _ := os.ReadDir(filepath.Join(m.cfg.StateDir, "hibernated"))
	for _, e := range entries {
		if !known[e.Name()] {
			m.dropHibernation(e.Name())
		}
	}
	// What older hibernations of a live sandbox left (a crash between a
	// hibernation and its prune): its latest snapshot is all it needs.
	for _, r := range all {
		if _, err := os.Stat(m.hibernateDir(r.ID)); err != nil {
			continue
		}
		if dir, _, err := m.lastHibernation(r.ID); err == nil {
			m.pruneHibernations(r, dir)
		}
	}
}
