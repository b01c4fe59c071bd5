package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/store"
)

// Install validates a manifest (JSON), stores its artifact files
// (verifying their sha256) and records the plugin, enabled. A plugin of
// the same name must be removed first. On error nothing is left behind.
func (r *Registry) Install(ctx context.Context, raw []byte) (*Plugin, error) {
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	// An image with packages takes minutes to build: it is built before
	// the registry's lock is taken, so other installs, enables and
	// disables are not held up (a failed install keeps the built image,
	// cached for the next try).
	if rf := m.RootFS; rf != nil && rf.Kind == RootFSImage && len(rf.Packages) > 0 {
		if old, ok := r.lookup(m.Name); ok {
			return nil, errdefs.WithRemedy(errdefs.Conflict("plugin %q is already installed (version %s); remove it first or install this one under another name",
				m.Name, old.rec.Version), errdefs.OpPluginRemove, "name", m.Name)
		}
		built := *rf
		if err := r.buildImage(ctx, m.Name, &built); err != nil {
			return nil, err
		}
		m.RootFS = &built
	}
	e, err := r.install(ctx, m)
	if err != nil {
		return nil, err
	}
	r.notify()
	return e.view(), nil
}

func (r *Registry) install(ctx context.Context, m *Manifest) (_ *entry, err error) {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if old, ok := r.lookup(m.Name); ok {
		return nil, errdefs.WithRemedy(errdefs.Conflict("plugin %q is already installed (version %s); remove it first or install this one under another name",
			m.Name, old.rec.Version), errdefs.OpPluginRemove, "name", m.Name)
	}
	if err := m.CheckHostLimits(r.cfg.HostLimits); err != nil {
		return nil, err
	}

	keys, err := r.requiredKeys(m)
	if err != nil {
		return nil, err
	}
	stored := *m
	stored.Artifacts = slices.Clone(m.Artifacts)
	info := make(map[string]blobInfo)
	var created []string
	defer func() {
		if err != nil {
			r.dropBlobs(created)
		}
	}()
	for i := range stored.Artifacts {
		a := &stored.Artifacts[i]
		sum, size, isNew, err := r.storeArtifact(ctx, i, *a)
		if err != nil {
			return nil, err
		}
		if isNew {
			created = append(created, sum)
		}
		if err := r.checkSignature(ctx, fmt.Sprintf("artifacts[%d]", i), a.Signature, sum, keys); err != nil {
			return nil, err
		}
		a.SHA256, a.Content = sum, nil
		info[sum] = blobInfo{size: size}
	}
	if m.RootFS != nil {
		rf := *m.RootFS
		stored.RootFS = &rf
		made, err := r.storeRootFS(ctx, &stored, keys)
		created = append(created, made...)
		if err != nil {
			return nil, err
		}
		if rf.Ext4SHA256 != "" {
			st, err := os.Stat(r.blobs.path(rf.Ext4SHA256))
			if err != nil {
				return nil, fmt.Errorf("storing the rootfs of %s: %w", m.Name, err)
			}
			info[rf.Ext4SHA256] = blobInfo{size: st.Size()}
		}
	}

	manifest, err := json.Marshal(stored)
	if err != nil {
		return nil, fmt.Errorf("encoding the manifest of %s: %w", m.Name, err)
	}
	rec, err := r.cfg.Store.CreatePlugin(ctx, store.Plugin{Name: m.Name, Version: m.Version, Enabled: true, Manifest: manifest})
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		return nil, errdefs.WithRemedy(errdefs.Conflict("plugin %q is already installed; remove it first or install this one under another name", m.Name), errdefs.OpPluginRemove, "name", m.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("recording plugin %s: %w", m.Name, err)
	}
	e := newEntry(r.blobs, rec, info)
	r.mu.Lock()
	r.plugins[m.Name] = e
	r.mu.Unlock()
	r.log.Info("plugin installed", "plugin", m.Name, "version", m.Version, "digest", e.digest)
	r.publish(ctx, events.PluginInstalled, e)
	return e, nil
}

// storeArtifact copies artifact i's file or content into the blobs,
// verifying its digest.
func (r *Registry) storeArtifact(ctx context.Context, i int, a Artifact) (sum string, size int64, created bool, err error) {
	field := fmt.Sprintf("artifacts[%d]", i)
	var src io.Reader
	if a.Source != "" {
		rc, err := r.openArtifactSource(ctx, field, a.Source)
		if err != nil {
			return "", 0, false, err
		}
		defer rc.Close()
		src = rc
	} else {
		src = bytes.NewReader(a.Content)
	}
	sum, size, created, err = r.blobs.put(ctx, src, a.SHA256)
	var mismatch *digestMismatch
	switch {
	case errors.As(err, &mismatch) && a.Source != "":
		// The digest of a file the caller did not send is never told: it
		// would let a caller learn it and copy the file in with a second
		// install.
		return "", 0, false, errdefs.Invalid("%s.sha256: the file of %s (for %s) does not have the manifest's sha256 %s; fix the digest (sha256sum the file) or the file",
			field, a.Source, a.Path, mismatch.want)
	case errors.As(err, &mismatch):
		return "", 0, false, errdefs.Invalid("%s.sha256: the content for %s has sha256 %s, but the manifest says %s; fix the digest or the content",
			field, a.Path, mismatch.got, mismatch.want)
	case err != nil && ctx.Err() != nil:
		return "", 0, false, fmt.Errorf("storing %s (%s): %w", field, a.Path, err)
	case err != nil && a.Source != "":
		return "", 0, false, errdefs.Invalid("%s.source: reading %s failed: %v", field, a.Source, err)
	case err != nil:
		return "", 0, false, fmt.Errorf("storing %s (%s): %w", field, a.Path, err)
	}
	return sum, size, created, nil
}

// dropBlobs removes blobs an install created, unless a plugin uses them.
func (r *Registry) dropBlobs(sums []string) {
	r.mu.RLock()
	used := r.usedBlobsLocked("")
	r.mu.RUnlock()
	for _, s := range sums {
		if used[s] {
			continue
		}
		if err := r.blobs.remove(s); err != nil {
			r.log.Warn("removing a plugin file", "sha256", s, "err", err)
		}
	}
}
