package debian

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
)

var buildMu sync.Mutex

// WithPackages builds (or finds built) the debian image with extra
// packages on top of DefaultPackages and registers it in store under
// "debian-<key>" (Options.Key of the whole set), which it returns. The
// userland is cached in cacheDir by that key, so the same set is built
// once. progress, when set, receives mmdebstrap's output lines. A failed
// build keeps nothing; its error carries mmdebstrap's last lines, and is
// ErrInvalidArgument when a package does not exist.
func WithPackages(ctx context.Context, store *oci.Store, cacheDir string, extra []string, log *slog.Logger, progress func(string)) (string, error) {
	// One build at a time: two of the same set would share a temporary
	// file, and two different ones would only slow each other down.
	buildMu.Lock()
	defer buildMu.Unlock()
	if os.Geteuid() != 0 {
		return "", errdefs.Unavailable("building an image with packages needs the daemon to run as root (mmdebstrap --mode=root and the ext4 conversion); run volantd as root, or install a plugin without rootfs.packages")
	}
	if progress == nil {
		progress = func(string) {}
	}
	pk := slices.Clone(DefaultPackages)
	for _, p := range extra {
		if !slices.Contains(pk, p) {
			pk = append(pk, p)
		}
	}
	opts := Options{CacheDir: cacheDir, Packages: pk, Logger: log, Progress: progress}
	name := Name + "-" + opts.Key()
	opts.ImageName = name
	if img, err := store.Get(ctx, name); err == nil {
		if _, err := os.Stat(store.RootFSPath(img.Digest)); err == nil {
			progress("image " + name + " is already built")
			return name, nil
		}
	}
	if _, err := Build(ctx, store, opts); err != nil {
		if ctx.Err() != nil || errors.Is(err, errdefs.ErrInvalidArgument) || errors.Is(err, errdefs.ErrUnavailable) {
			return "", err
		}
		msg := err.Error()
		if strings.Contains(msg, "Unable to locate package") || strings.Contains(msg, "has no installation candidate") {
			return "", errdefs.Invalid("a package is not in Debian %s (check its name with apt-cache policy): %s", DefaultSuite, msg)
		}
		return "", errdefs.Unavailable("%s", msg)
	}
	return name, nil
}
