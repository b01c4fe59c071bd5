package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/store"
)

// ManifestVersion is the version of the snapshot manifest format.
const ManifestVersion = 1

// Manifest describes a snapshot directory; it is written there as
// manifest.json and kept in the store.
type Manifest struct {
	Version    int    `json:"version"`
	ID         string `json:"id"`
	VMM        string `json:"vmm"`
	VMMVersion string `json:"vmm_version"`
	Runtime    string `json:"runtime"`
	Image      string `json:"image_digest"`
	Parent     string `json:"parent,omitempty"`
	SandboxID  string `json:"sandbox_id,omitempty"`
	Template   bool   `json:"template,omitempty"`
	Key        string `json:"key,omitempty"`
	VCPUs      int    `json:"vcpus"`
	MemoryMiB  int    `json:"memory_mib"`
	HasNet     bool   `json:"has_net"`
	// Network is the network mode the snapshot was taken with; restores
	// need the same kind of backend (the VMM's device state differs).
	Network   NetworkMode `json:"network,omitempty"`
	Created   time.Time   `json:"created"`
	SizeBytes int64       `json:"size_bytes"`
	// Device is what the driver needs to restore.
	Device hypervisor.SnapshotInfo `json:"device"`
	// RootImage is the image the guest runs in (images.go), if any.
	RootImage *imageRecord `json:"root_image,omitempty"`
	// BaseTemplate is the image template the snapshot's copy-on-write
	// root disk descends from (its backing file is there), if any.
	BaseTemplate string `json:"base_template,omitempty"`
	// Seals holds the size (and digest, if small) of every file the
	// snapshot wrote, checked before a restore (integrity.go).
	Seals map[string]fileSeal `json:"seals,omitempty"`
}

// snapshotRef is a snapshot a VM can be restored from.
type snapshotRef struct {
	id  string
	dir string
	man Manifest
	// own is set for a sandbox's own hibernation: the guest wakes with
	// the identity it had (hibernate.go), so it only needs the time.
	own bool
}

func (m *Manager) snapshotDir(id string) string {
	return filepath.Join(m.cfg.StateDir, "snapshots", id)
}

// Snapshot saves a running or paused sandbox: memory, devices and disks at
// one instant. The sandbox is paused for the copy and then keeps running.
func (m *Manager) Snapshot(ctx context.Context, idOrName string) (*Snapshot, error) {
	rec, err := m.record(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	unlock := m.locks.lock(rec.ID)
	defer unlock()
	if rec, err = m.cfg.Store.GetSandbox(ctx, rec.ID); err == nil && State(rec.State) == StateHibernated {
		if err := m.wakeLocked(ctx, rec); err != nil { // hibernate.go
			return nil, err
		}
	}
	return m.snapshotLocked(ctx, rec.ID)
}

func (m *Manager) snapshotLocked(ctx context.Context, id string) (*Snapshot, error) {
	rec, err := m.cfg.Store.GetSandbox(ctx, id)
	if err != nil {
		return nil, err
	}
	if s := State(rec.State); s != StateRunning && s != StatePaused {
		return nil, errdefs.Conflict("sandbox %s is %s; only a running or paused sandbox can be snapshotted", id, s)
	}
	in, ok := m.instance(id)
	if !ok {
		return nil, errdefs.Unavailable("sandbox %s has no live VM", id)
	}
	snapper, ok := in.vm.(hypervisor.Snapshotter)
	if !ok {
		return nil, errdefs.Unavailable("the %s driver cannot snapshot VMs", m.cfg.Driver.Name())
	}
	meta := specOf(rec)
	man := Manifest{
		Runtime: rec.Runtime, Image: m.imageOf(rec.Runtime).ImageDigest, SandboxID: id,
		VCPUs: meta.Spec.VCPUs, MemoryMiB: meta.Spec.MemoryMiB, HasNet: meta.Spec.Network != NetworkNone,
		Network: meta.Spec.Network, RootImage: meta.Image,
	}
	if meta.Image != nil {
		man.BaseTemplate = m.baseTemplate(ctx, meta.Restored) // images.go
	}
	if p := meta.Restored; p != "" && !isTemplateID(p) {
		if _, err := m.cfg.Store.GetSnapshot(ctx, p); err == nil {
			man.Parent = p
		}
	}
	sn, man, err := m.snapshotVM(ctx, snapper, in, newID("snap-"), man)
	if err != nil {
		return nil, fmt.Errorf("snapshotting %s: %w", id, err)
	}
	m.publish(ctx, events.SnapshotCreated, id, map[string]any{"snapshot": sn.ID, "size_bytes": man.SizeBytes})
	return toSnapshot(sn, man, 0, 0), nil
}

// snapshotVM writes a VM's snapshot into a new snapshot dir with its
// manifest (man gives the engine's fields) and records it.
func (m *Manager) snapshotVM(ctx context.Context, snapper hypervisor.Snapshotter, in *instance, snapID string, man Manifest) (store.Snapshot, Manifest, error) {
	dir := m.snapshotDir(snapID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return store.Snapshot{}, man, err
	}
	// Idle agent connections would be frozen half-open in the snapshot.
	in.agent.CloseIdle()
	info, err := snapper.Snapshot(ctx, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return store.Snapshot{}, man, explainNoSpace(err, filepath.Dir(dir), man.MemoryMiB) // space.go
	}
	man.Version, man.ID = ManifestVersion, snapID
	man.VMM, man.VMMVersion, man.Device = info.VMM, info.VMMVersion, info
	man.Created, man.SizeBytes = time.Now().UTC(), dirSize(dir)
	if man.Seals, err = sealFiles(dir, info.Files); err != nil { // integrity.go
		_ = os.RemoveAll(dir)
		return store.Snapshot{}, man, fmt.Errorf("sealing the snapshot: %w", err)
	}
	if err := writeManifest(dir, man); err != nil {
		_ = os.RemoveAll(dir)
		return store.Snapshot{}, man, err
	}
	raw, _ := json.Marshal(man)
	sn, err := m.cfg.Store.CreateSnapshot(ctx, store.Snapshot{
		ID: snapID, SandboxID: man.SandboxID, ParentID: man.Parent, Runtime: man.Runtime,
		Dir: dir, Manifest: raw, SizeBytes: man.SizeBytes, CreatedAt: man.Created,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return store.Snapshot{}, man, err
	}
	return sn, man, nil
}

// MaxForkCount bounds the clones of one fork.
const MaxForkCount = 100

// forkParallel bounds the clones of one fork restored at the same time:
// all restore from one snapshot (its memory mapped copy-on-write), and
// more at once than about two per host CPU only queue on the CPUs and the
// agent handshakes (on 2 cores under TCG, 8 at once was no faster than 4).
var forkParallel = max(4, 2*runtime.NumCPU())

// ForkRequest is the body of a fork.
type ForkRequest struct {
	// Count is how many clones; 0 means 1.
	Count int `json:"count,omitempty" minimum:"0" maximum:"100" doc:"How many clones, 1 to 100; 0 means 1." jsonschema:"number of clones, 1 to 100; 0 means 1"`
	// Egress is the clones' egress policy; nil gives them a copy of the
	// parent's policy as it is at the fork.
	Egress *EgressPolicy `json:"egress,omitempty" doc:"The clones' egress policy (bridge network only); absent: a copy of the parent's policy as it is now." jsonschema:"the clones' egress policy (bridge network only); omit for a copy of the parent's policy as it is now"`
}

// Validate reports what is wrong with r.
func (r ForkRequest) Validate() error {
	if r.Count < 0 || r.Count > MaxForkCount {
		return errdefs.Invalid("count %d: fork between 1 and %d clones (0 means 1)", r.Count, MaxForkCount)
	}
	if r.Egress != nil {
		return r.Egress.Validate()
	}
	return nil
}

// Fork snapshots a sandbox and restores req.Count clones of it (0 means
// 1), each with its own identity (id, address, MAC, hostname, entropy,
// clock) and the egress policy req gives (by default a copy of the
// parent's as it is now; later changes to either do not reach the other).
func (m *Manager) Fork(ctx context.Context, idOrName string, req ForkRequest) ([]*Sandbox, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	n := max(req.Count, 1)
	src, err := m.Get(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	// Refuse a fan-out that cannot fit before snapshotting and restoring
	// clones that would only be deleted again.
	if err := m.admitCheck(src.Spec, n); err != nil {
		return nil, err
	}
	fctx, tm := withTiming(ctx)
	snap, err := m.Snapshot(ctx, src.ID)
	if err != nil {
		return nil, err
	}
	step(fctx, "snapshot")
	spec := forkSpec(src.Spec)
	if req.Egress != nil {
		p := req.Egress.Normalize()
		spec.Egress = &p
	}
	spec.Name, spec.FromSnapshot, spec.ColdBoot = "", snap.ID, false
	clones := make([]*Sandbox, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, forkParallel)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			clones[i], errs[i] = m.Create(ctx, spec)
		}()
	}
	wg.Wait()
	step(fctx, "clones")
	tm.log(m.log, "fork timing", "sandbox", src.ID, "count", n)
	if err := errors.Join(errs...); err != nil {
		for _, c := range clones {
			if c != nil {
				_ = m.Delete(context.WithoutCancel(ctx), c.ID)
			}
		}
		_ = m.DeleteSnapshot(context.WithoutCancel(ctx), snap.ID)
		return nil, fmt.Errorf("forking %s: %w", src.ID, err)
	}
	return clones, nil
}

// snapshotFor loads a snapshot to restore spec from, checking that it can
// be restored here, and fills spec's size from it.
func (m *Manager) snapshotFor(ctx context.Context, id string, spec *Spec) (*snapshotRef, error) {
	sn, err := m.cfg.Store.GetSnapshot(ctx, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, snapshotNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	ref, err := m.loadRef(sn)
	if err != nil {
		return nil, err
	}
	man := ref.man
	if man.VMM != m.cfg.Driver.Name() {
		return nil, errdefs.Invalid("snapshot %s was made by %s; this daemon runs %s", id, man.VMM, m.cfg.Driver.Name())
	}
	if spec.Runtime != "" && spec.Runtime != man.Runtime {
		return nil, errdefs.Invalid("snapshot %s is of runtime %q, not %q; leave runtime empty", id, man.Runtime, spec.Runtime)
	}
	if spec.VCPUs != 0 && spec.VCPUs != man.VCPUs || spec.MemoryMiB != 0 && spec.MemoryMiB != man.MemoryMiB {
		return nil, errdefs.Invalid("snapshot %s has %d vcpus and %d MiB; leave vcpus and memory_mib empty or equal", id, man.VCPUs, man.MemoryMiB)
	}
	if man.Network != "" && spec.Network != "" && spec.Network != man.Network {
		return nil, errdefs.Invalid("snapshot %s was taken with network %q; restore it with the same network mode (or leave network empty)", id, man.Network)
	}
	spec.Runtime, spec.VCPUs, spec.MemoryMiB = man.Runtime, man.VCPUs, man.MemoryMiB
	if man.Network != "" {
		spec.Network = man.Network
	}
	return ref, nil
}

// loadRef reads a snapshot record's manifest and checks its directory.
func (m *Manager) loadRef(sn store.Snapshot) (*snapshotRef, error) {
	var man Manifest
	if err := json.Unmarshal(sn.Manifest, &man); err != nil {
		return nil, errdefs.Invalid("snapshot %s has an unreadable manifest: %v", sn.ID, err)
	}
	if man.Version != ManifestVersion {
		return nil, errdefs.Invalid("snapshot %s has manifest version %d; this daemon reads version %d", sn.ID, man.Version, ManifestVersion)
	}
	if _, err := os.Stat(filepath.Join(sn.Dir, "manifest.json")); err != nil {
		return nil, errdefs.Unavailable("snapshot %s: its directory %s is missing or incomplete", sn.ID, sn.Dir)
	}
	if err := checkSeals(sn.ID, sn.Dir, man.Seals); err != nil { // integrity.go
		return nil, err
	}
	return &snapshotRef{id: sn.ID, dir: sn.Dir, man: man}, nil
}

// ListSnapshots returns every snapshot, oldest first.
func (m *Manager) ListSnapshots(ctx context.Context) ([]*Snapshot, error) {
	recs, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Snapshot, 0, len(recs))
	for _, r := range recs {
		var man Manifest
		_ = json.Unmarshal(r.Manifest, &man)
		children, sandboxes, _ := m.cfg.Store.SnapshotRefs(ctx, r.ID)
		out = append(out, toSnapshot(r, man, children, sandboxes))
	}
	return out, nil
}

// GetSnapshot returns one snapshot.
func (m *Manager) GetSnapshot(ctx context.Context, id string) (*Snapshot, error) {
	if err := validateSnapshotID(id); err != nil {
		return nil, err
	}
	r, err := m.cfg.Store.GetSnapshot(ctx, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, snapshotNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	children, sandboxes, err := m.cfg.Store.SnapshotRefs(ctx, id)
	if err != nil {
		return nil, err
	}
	var man Manifest
	_ = json.Unmarshal(r.Manifest, &man)
	return toSnapshot(r, man, children, sandboxes), nil
}

// DeleteSnapshot removes a snapshot nothing depends on: no child snapshot
// and no sandbox restored from it.
func (m *Manager) DeleteSnapshot(ctx context.Context, id string) error {
	if err := validateSnapshotID(id); err != nil {
		return err
	}
	r, err := m.cfg.Store.GetSnapshot(ctx, id)
	if errors.Is(err, errdefs.ErrNotFound) {
		return snapshotNotFound(id)
	}
	if err != nil {
		return err
	}
	if err := m.imageTemplateInUse(ctx, id); err != nil { // images.go
		return err
	}
	if err := m.cfg.Store.DeleteSnapshot(ctx, id); err != nil {
		return err
	}
	m.dropTemplate(id)
	if err := os.RemoveAll(r.Dir); err != nil {
		m.log.Warn("removing snapshot dir", "snapshot", id, "err", err)
	}
	m.publish(ctx, events.SnapshotDeleted, r.SandboxID, map[string]string{"snapshot": id})
	return nil
}

func toSnapshot(r store.Snapshot, man Manifest, children, sandboxes int) *Snapshot {
	return &Snapshot{
		ID: r.ID, SandboxID: r.SandboxID, ParentID: r.ParentID, Runtime: r.Runtime,
		Template: man.Template, SizeBytes: r.SizeBytes, CreatedAt: r.CreatedAt,
		Children: children, Sandboxes: sandboxes, ImageDigest: man.RootImage.digest(),
	}
}

func writeManifest(dir string, man Manifest) error {
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".manifest.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing snapshot manifest: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "manifest.json"))
}

// dirSize is the disk space a directory's files take (sparse-aware).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := os.Stat(p); err == nil {
				n += diskUsage(st)
			}
		}
		return nil
	})
	return n
}

// validateSnapshotID checks a snapshot id a caller gave.
func validateSnapshotID(id string) error {
	if err := validateRef("snapshot id", id); err != nil {
		return errdefs.WithRemedy(err, errdefs.OpSnapshotList)
	}
	return nil
}

// snapshotNotFound is the error of an unknown snapshot id.
func snapshotNotFound(id string) error {
	return errdefs.WithRemedy(errdefs.NotFound("snapshot %q not found; list snapshots to see the ids", clip(id)), errdefs.OpSnapshotList)
}
