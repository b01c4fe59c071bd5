package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/debian"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/sandbox"
)

// openImages opens the OCI image store under the images directory and
// the engine's image resource over it.
func (d *Daemon) openImages() error {
	keys, err := readKeys("image_trusted_keys", d.cfg.ImageTrustedKeys)
	if err != nil {
		return err
	}
	st, err := oci.Open(oci.Config{
		Dir: d.cfg.Images(), ImportDirs: d.cfg.ImageImportDirs, TrustedKeys: keys, Logger: d.log,
		InUse: d.imageInUse,
	})
	if err != nil {
		return fmt.Errorf("opening the image store: %w", err)
	}
	d.images = st
	d.imageAPI = sandbox.NewImageService(st, d.bus, d.log)
	return nil
}

// Images is the daemon's OCI image store (nil before New returns).
func (d *Daemon) Images() *oci.Store { return d.images }

// imageInUse counts what uses an image, for the store's delete: its
// templates are dropped first (they are remade on demand), then what is
// left (sandboxes, snapshots, creates in flight) refuses the delete.
func (d *Daemon) imageInUse(digest string) (int, error) {
	if d.mgr == nil {
		return 0, nil
	}
	ctx := context.Background()
	if err := d.mgr.ForgetImageTemplates(ctx, digest); err != nil {
		return 0, err
	}
	return d.mgr.ImageInUse(ctx, digest)
}

// ociImages gives the engine the root filesystems of the store's images.
type ociImages struct{ s *oci.Store }

func (a ociImages) RootFS(ctx context.Context, ref string) (sandbox.ImageRootFS, error) {
	r, err := a.s.RootFS(ctx, ref)
	if err != nil {
		return sandbox.ImageRootFS{}, err
	}
	return sandbox.ImageRootFS{Ref: r.Ref, Digest: r.Digest, Path: r.Path, Env: r.Env, WorkingDir: r.WorkingDir,
		User: r.User, Entrypoint: r.Entrypoint, Cmd: r.Cmd}, nil
}

// readKeys reads PEM public key files named by a config setting.
func readKeys(setting string, paths []string) ([]string, error) {
	var keys []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, errdefs.Invalid("%s: reading %s: %v", setting, p, err)
		}
		keys = append(keys, string(b))
	}
	return keys, nil
}

// pluginImages pulls the images plugins name as their rootfs.
type pluginImages struct{ s *oci.Store }

// Pull pulls ref; with keys, it must be signed by one of them (each is
// tried in turn: a refused pull keeps nothing).
func (a pluginImages) Pull(ctx context.Context, ref string, keys []string) error {
	if len(keys) == 0 {
		_, err := a.s.Pull(ctx, ref, oci.PullOptions{})
		return err
	}
	var err error
	for _, k := range keys {
		if _, err = a.s.Pull(ctx, ref, oci.PullOptions{PublicKey: k}); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

// pluginBuilder builds the images plugins ask for with extra packages
// (image/debian), cached under the images directory.
type pluginBuilder struct {
	s   *oci.Store
	dir string
	log *slog.Logger
}

// BuildImage builds the debian image with packages added to its own.
func (b pluginBuilder) BuildImage(ctx context.Context, base string, packages []string, progress func(string)) (string, error) {
	if b.s == nil {
		return "", errdefs.Unavailable("rootfs.packages: this daemon has no image store to build the image into; run it with images")
	}
	if base != debian.Name {
		return "", errdefs.Invalid("rootfs.packages: only the %s image takes extra packages, not %q", debian.Name, base)
	}
	return debian.WithPackages(ctx, b.s, filepath.Join(b.dir, "debian"), packages, b.log, progress)
}
