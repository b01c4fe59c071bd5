package oci

import (
	"context"
	"errors"
	"os"

	"github.com/volant-sh/volant/errdefs"
)

// RootFS returns the root filesystem of the image ref names (a name, a
// reference, a digest or a digest prefix), for a sandbox: a reference
// not in the store yet is pulled first, and an image whose ext4 is
// missing is converted again. A built-in name (debian) is never pulled.
func (s *Store) RootFS(ctx context.Context, ref string) (*RootFS, error) {
	img, err := s.Get(ctx, ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		if BuiltinNames[ref] {
			return nil, errdefs.NotFound("the built-in image %q is not built yet: run volantd image build (make image)", ref)
		}
		if IsBuilt(ref) {
			return nil, errdefs.NotFound("the image %q is built when a plugin that asks for it is installed, and it is gone: remove the plugin and install it again", ref)
		}
		if _, perr := parseRef(ref); perr != nil {
			return nil, err
		}
		img, err = s.Pull(ctx, ref, PullOptions{})
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.RootFSPath(img.Digest)); err != nil {
		s.gc.RLock()
		err := s.convert(ctx, img, func(Progress) {})
		s.gc.RUnlock()
		if err != nil {
			return nil, err
		}
	}
	return &RootFS{Ref: ref, Digest: img.Digest, Path: s.RootFSPath(img.Digest), Env: img.Config.Env,
		WorkingDir: img.Config.WorkingDir, User: img.Config.User, Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd}, nil
}
