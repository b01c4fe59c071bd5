package daemon

import (
	"context"
	"fmt"
	"os"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/sandbox"
)

// openImages opens the OCI image store under the images directory and
// the engine's image resource over it.
func (d *Daemon) openImages() error {
	var keys []string
	for _, p := range d.cfg.ImageTrustedKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return errdefs.Invalid("image_trusted_keys: reading %s: %v", p, err)
		}
		keys = append(keys, string(b))
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
