package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/store"
)

// Sandboxes from OCI images. The image store converts an image once into
// an ext4 file; every sandbox of that image attaches it read-only (shared,
// never written, never copied by a snapshot) and writes into a
// copy-on-write disk of its own, a qcow2 image formatted ext4 that holds
// the overlay's upper and work directories. kestrel mounts both and an
// overlay, and chroots into it (kestrel/rootfs). Templates and warm guests
// are keyed by the image's digest, so the second create of an image
// restores, and a new digest under the same tag gets a new template.

// Images resolves an image reference to its root file system. The OCI
// image store implements it.
type Images interface {
	// RootFS returns the root file system of ref (a reference such as
	// "python:3.12-slim", or a digest "sha256:..."); a reference not yet
	// pulled is pulled first.
	RootFS(ctx context.Context, ref string) (ImageRootFS, error)
}

// ImageRootFS is an image converted to a root file system.
type ImageRootFS struct {
	// Ref is the reference the image was resolved from; Digest is the
	// image's digest ("sha256:..."), its identity.
	Ref, Digest string
	// Path is the image's ext4 file, shared read-only by every sandbox of
	// the image.
	Path string
	// Env, WorkingDir and User are the image config's defaults for every
	// process in the sandbox (a request's own env, cwd and user win).
	Env        []string
	WorkingDir string
	User       string
	// Entrypoint and Cmd are the image config's command; kept for
	// workloads, not run by a plain sandbox.
	Entrypoint, Cmd []string
}

// Disk serials by which kestrel finds an image sandbox's two root disks
// (kernel command line volant.root= and volant.rootrw=).
const (
	imageDiskSerial  = "volant-image"
	rootRWDiskSerial = "volant-rootrw"
)

// rootDiskMiB is the virtual size of a sandbox's copy-on-write layer: the
// most it can write into its root. The file is sparse: it takes what the
// sandbox writes.
const rootDiskMiB = 16 << 10

// imageRecord is what a sandbox record and a snapshot manifest keep of
// the image they run: enough to boot it again after a stop, without the
// image store.
type imageRecord struct {
	Ref        string   `json:"ref"`
	Digest     string   `json:"digest"`
	Path       string   `json:"path"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

func recordOf(img *ImageRootFS) *imageRecord {
	if img == nil {
		return nil
	}
	return &imageRecord{Ref: img.Ref, Digest: img.Digest, Path: img.Path, Env: img.Env, WorkingDir: img.WorkingDir, User: img.User}
}

func (r *imageRecord) rootFS() *ImageRootFS {
	if r == nil {
		return nil
	}
	return &ImageRootFS{Ref: r.Ref, Digest: r.Digest, Path: r.Path, Env: r.Env, WorkingDir: r.WorkingDir, User: r.User}
}

// digest is r's digest, or "" for no image.
func (r *imageRecord) digest() string {
	if r == nil {
		return ""
	}
	return r.Digest
}

// checkImageRef is the part of Spec.Validate about Image.
func checkImageRef(ref string) error {
	if ref == "" {
		return nil
	}
	if len(ref) > 512 || strings.ContainsAny(ref, " \t\r\n\x00") {
		return errdefs.Invalid("image %q: give an image reference such as python:3.12-slim or a digest sha256:...", clip(ref))
	}
	return nil
}

// resolveImage fills spec.image: from the snapshot a create restores, or
// from the image store. It is called by Create once the spec has its
// defaults, before a template is looked up (templates are keyed by the
// image's digest).
//
// A plugin runtime that names a root filesystem (rt.Plugin.Root) runs in
// it: its image is resolved here like Spec.Image (runtime.go, pluginRoot).
func (m *Manager) resolveImage(ctx context.Context, spec *Spec, rt Runtime, from *snapshotRef) error {
	if from != nil && spec.FromSnapshot != "" {
		img := from.man.RootImage
		switch {
		case img == nil && spec.Image != "":
			return errdefs.Invalid("snapshot %s has no image; leave image empty to restore it", from.id)
		case img != nil && spec.Image != "" && spec.Image != img.Ref && spec.Image != img.Digest:
			return errdefs.Invalid("snapshot %s runs image %s (%s), not %q; leave image empty to restore it", from.id, img.Ref, img.Digest, spec.Image)
		case img != nil:
			if _, err := os.Stat(img.Path); err != nil {
				return errdefs.Unavailable("snapshot %s runs image %s, whose root file system %s is gone: %v", from.id, img.Ref, img.Path, err)
			}
			spec.Image, spec.image = img.Ref, img.rootFS()
		}
		return nil
	}
	if rt.Plugin != nil && rt.Plugin.Root != nil {
		if spec.Image != "" {
			return errdefs.Invalid("runtime %s runs in its own root filesystem (%s); leave image empty, or pick another runtime to run image %q", spec.Runtime, rootSay(rt.Plugin.Root), spec.Image)
		}
		img, err := m.pluginRoot(ctx, rt)
		if err != nil {
			return err
		}
		spec.image = img
		return nil
	}
	if spec.Image == "" {
		return nil
	}
	if m.cfg.Images == nil {
		return errdefs.Invalid("image %q: this daemon has no image store, so sandboxes cannot run images; leave image empty for the built-in guest", spec.Image)
	}
	img, err := m.cfg.Images.RootFS(ctx, spec.Image)
	if err != nil {
		return fmt.Errorf("image %s: %w", spec.Image, err)
	}
	if img.Digest == "" || !filepath.IsAbs(img.Path) {
		return fmt.Errorf("image %s: the image store gave no digest or no absolute root file system path (%q)", spec.Image, img.Path)
	}
	if img.Ref == "" {
		img.Ref = spec.Image
	}
	spec.image = &img
	return nil
}

// recordImage notes a create's image on its new record.
func recordImage(rec *store.Sandbox, spec Spec) {
	if spec.image == nil {
		return
	}
	rec.ImageRef, rec.ImageDigest = spec.image.Ref, spec.image.Digest
	meta := specOf(*rec)
	meta.Image = recordOf(spec.image)
	setSpec(rec, meta)
}

// imageOfRecord is the image a stored sandbox runs, for a boot after a
// stop.
func imageOfRecord(rec store.Sandbox) *ImageRootFS {
	return specOf(rec).Image.rootFS()
}

// imageKey is the template key's part for spec's image.
func imageKey(spec Spec) string {
	if spec.image == nil {
		return ""
	}
	return "/img=" + spec.image.Digest
}

// rootDiskPath is a sandbox's copy-on-write layer; it lives beside the
// data disk and goes with it (removeDisk).
func (m *Manager) rootDiskPath(id string) string {
	return filepath.Join(filepath.Dir(m.dataDisk(id).Path), "root.qcow2")
}

// imageDisks returns the disks and kernel arguments a cold boot of an
// image sandbox adds: the image read-only and the copy-on-write layer at
// path (made, formatted, on first use).
func (m *Manager) imageDisks(ctx context.Context, img *ImageRootFS, path string) ([]hypervisor.Disk, []string, error) {
	if _, err := os.Stat(img.Path); err != nil {
		return nil, nil, errdefs.Unavailable("image %s: its root file system %s is gone (%v); pull the image again", img.Ref, img.Path, err)
	}
	if _, err := os.Stat(path); err != nil {
		if err := m.makeRootDisk(ctx, path); err != nil {
			return nil, nil, err
		}
	}
	disks := []hypervisor.Disk{
		{Path: img.Path, Format: "raw", ReadOnly: true, Serial: imageDiskSerial},
		{Path: path, Format: "qcow2", Serial: rootRWDiskSerial},
	}
	return disks, []string{"volant.root=" + imageDiskSerial, "volant.rootrw=" + rootRWDiskSerial}, nil
}

// blankMu serializes making the cached blank copy-on-write disk.
var blankMu sync.Mutex

// makeRootDisk copies a blank, formatted copy-on-write disk to path. The
// blank one is made once per state directory (mkfs.ext4 on the host takes
// a fraction of a second, formatting in the guest seconds under
// emulation) and a copy of it is a few MiB: qcow2 keeps only what ext4
// wrote.
func (m *Manager) makeRootDisk(ctx context.Context, path string) error {
	blank, err := m.blankRootDisk(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if _, err := copyFile(blank, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("making the copy-on-write disk %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// blankRootDisk returns the cached blank copy-on-write disk, making it
// first if needed.
func (m *Manager) blankRootDisk(ctx context.Context) (string, error) {
	blankMu.Lock()
	defer blankMu.Unlock()
	p := filepath.Join(m.cfg.StateDir, "disks", fmt.Sprintf("blank-root-%dm.qcow2", rootDiskMiB))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return "", errdefs.Unavailable("sandboxes of images need mkfs.ext4 (apt-get install e2fsprogs)")
	}
	dm, err := m.diskMaker()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	raw := p + ".raw"
	defer os.Remove(raw)
	if err := os.WriteFile(raw, nil, 0o600); err != nil {
		return "", err
	}
	if err := os.Truncate(raw, int64(rootDiskMiB)<<20); err != nil {
		return "", err
	}
	// Inode tables and journal are zeroed now (the qcow2 copy keeps none
	// of the zeros), so no guest spends its first minutes zeroing them in
	// the background. One inode per 64 KiB (262144 in 16 GiB) and a 64 MiB
	// journal keep that short.
	out, err := exec.CommandContext(ctx, mkfs, "-q", "-F", "-L", "volant-rootrw", "-m", "0", "-i", "65536", "-J", "size=64",
		"-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard", raw).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("formatting the copy-on-write disk: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := dm.FlattenDisk(ctx, hypervisor.Disk{Path: raw, Format: "raw"}, hypervisor.Disk{Path: p, Format: "qcow2"}); err != nil {
		return "", fmt.Errorf("converting the copy-on-write disk: %w", err)
	}
	return p, nil
}

// copyFile copies src to a new file dst.
func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := out.ReadFrom(in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// setupImage gives a cold-booted image guest its image's defaults; it
// also says whether the guest entered its root.
func (m *Manager) setupImage(ctx context.Context, agent *client.Client, img *ImageRootFS) error {
	if img == nil {
		return nil
	}
	cfg := client.ImageConfig{Env: img.Env, WorkingDir: img.WorkingDir, User: img.User}
	if err := agent.SetImageConfig(ctx, cfg); err != nil {
		return fmt.Errorf("starting image %s in the guest: %w", img.Ref, err)
	}
	return nil
}

// keepRootDisk makes the copy-on-write layer a running image sandbox
// writes its own again before its VM goes away, as keepDisk does for the
// data disk: after a snapshot or a restore the VM writes an overlay in its
// runtime directory, which is flushed by the guest and copied to
// rootDiskPath. paused says keepDisk already flushed and paused the VM.
func (m *Manager) keepRootDisk(ctx context.Context, id string, in *instance, paused bool) (copied bool, err error) {
	rep, ok := in.vm.(hypervisor.DiskReporter)
	if !ok {
		return false, nil
	}
	var active string
	for _, d := range rep.ActiveDisks() {
		if d.Serial == rootRWDiskSerial {
			active = d.Path
		}
	}
	dst := m.rootDiskPath(id)
	if active == "" || active == dst {
		return false, nil
	}
	if !paused {
		if err := in.agent.Sync(ctx); err != nil {
			return false, fmt.Errorf("flushing the root of %s: %w", id, err)
		}
		if p, ok := in.vm.(hypervisor.Pauser); ok {
			if err := p.Pause(ctx); err != nil {
				return false, fmt.Errorf("pausing %s to copy its root: %w", id, err)
			}
		}
	}
	dm, err := m.diskMaker()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, err
	}
	// As for the data disk: a snapshot's hard link to the old image keeps
	// its frozen content, since the flattened copy replaces dst by rename.
	if err := dm.FlattenDisk(ctx, hypervisor.Disk{Path: active, Format: "qcow2"}, hypervisor.Disk{Path: dst, Format: "qcow2"}); err != nil {
		return false, fmt.Errorf("copying the root of %s: %w", id, err)
	}
	return true, nil
}

// creatingImage counts a create of spec's image as a use of it until the
// returned function is called, so the image cannot be deleted under it.
func (m *Manager) creatingImage(spec Spec) (done func()) {
	if spec.image == nil {
		return func() {}
	}
	return m.creating(imagePendingKey(spec.image.Digest))
}

// imagePendingKey is the key of an image's creates among the pending
// creates (no runtime name has a ':').
func imagePendingKey(digest string) string { return "image:" + digest }

// ImageInUse counts what uses the image with this digest: sandboxes in
// any state and creates under way, snapshots and templates (they restore
// onto its root file system). The image store refuses to delete an image in use; it may call
// ForgetImageTemplates first, so templates alone do not keep an image.
func (m *Manager) ImageInUse(ctx context.Context, digest string) (int, error) {
	if digest == "" {
		return 0, nil
	}
	m.mu.Lock()
	pending := m.pending[imagePendingKey(digest)]
	m.mu.Unlock()
	n, err := m.cfg.Store.CountSandboxesByImage(ctx, digest)
	if err != nil {
		return 0, err
	}
	n += pending
	snaps, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range snaps {
		if imageOfManifest(s.Manifest) == digest {
			n++
		}
	}
	return n, nil
}

// ForgetImageTemplates deletes the templates (and their warm guests) of
// the image with this digest, so the image can be deleted; the next
// create of it builds a new one. A template that the root disk of a
// sandbox or snapshot still descends from stays (ImageInUse counts those
// anyway).
func (m *Manager) ForgetImageTemplates(ctx context.Context, digest string) error {
	snaps, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if isTemplateID(s.ID) && imageOfManifest(s.Manifest) == digest {
			err := m.DeleteSnapshot(ctx, s.ID)
			if err != nil && !errors.Is(err, errdefs.ErrConflict) {
				return fmt.Errorf("deleting template %s of image %s: %w", s.ID, digest, err)
			}
		}
	}
	return nil
}

// baseTemplate is the template a root disk descends from, given what its
// VM was restored from: that template, or the base of that snapshot.
func (m *Manager) baseTemplate(ctx context.Context, restored string) string {
	if restored == "" || isTemplateID(restored) {
		return restored
	}
	sn, err := m.cfg.Store.GetSnapshot(ctx, restored)
	if err != nil {
		return ""
	}
	var man Manifest
	_ = json.Unmarshal(sn.Manifest, &man)
	return man.BaseTemplate
}

// imageTemplateInUse refuses to delete an image's template while the
// copy-on-write root disk of a sandbox or snapshot descends from it (a
// restore's overlay has its backing file in the template; a stop copies
// it out, and cannot once the template is gone). Other snapshots pass.
func (m *Manager) imageTemplateInUse(ctx context.Context, id string) error {
	if !isTemplateID(id) {
		return nil
	}
	sn, err := m.cfg.Store.GetSnapshot(ctx, id)
	if err != nil || imageOfManifest(sn.Manifest) == "" {
		return nil
	}
	n := 0
	after := ""
	for {
		page, next, err := m.cfg.Store.ListSandboxes(ctx, store.SandboxFilter{Limit: 500, After: after})
		if err != nil {
			return err
		}
		for _, r := range page {
			if meta := specOf(r); meta.Image != nil && m.baseTemplate(ctx, meta.Restored) == id {
				n++
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	snaps, err := m.cfg.Store.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		var man Manifest
		if json.Unmarshal(s.Manifest, &man) == nil && man.BaseTemplate == id {
			n++
		}
	}
	if n > 0 {
		return errdefs.Conflict("template %s of image %s holds the base of the root disks of %d sandboxes and snapshots; it can go once they are deleted", id, imageOfManifest(sn.Manifest), n)
	}
	return nil
}

// imageOfManifest is the digest of the image a stored snapshot manifest
// runs, or "".
func imageOfManifest(raw []byte) string {
	var man struct {
		RootImage *imageRecord `json:"root_image"`
	}
	if json.Unmarshal(raw, &man) != nil || man.RootImage == nil {
		return ""
	}
	return man.RootImage.Digest
}

// templateImageUsable says whether a stored template's image root file
// system is still there (an image deleted meanwhile makes it stale).
func templateImageUsable(man Manifest) bool {
	if man.RootImage == nil {
		return true
	}
	_, err := os.Stat(man.RootImage.Path)
	return err == nil
}
