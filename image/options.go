package image

import (
	"io"
	"log/slog"
	"path/filepath"

	"github.com/volant-sh/volant/errdefs"
)

// DefaultBusyboxPath is the busybox Build uses when Options.BusyboxPath is
// empty (Debian's busybox-static).
const DefaultBusyboxPath = "/bin/busybox"

// Compression is how the initramfs is stored.
type Compression string

// The initramfs compressions.
const (
	// CompressNone stores a plain newc cpio. Under TCG the kernel unpacks
	// it faster than a gzip one, so it boots sooner; it is the default.
	CompressNone Compression = "none"
	// CompressGzip stores a gzip-compressed cpio: about a third of the size.
	CompressGzip Compression = "gzip"
)

// Options configures Build.
type Options struct {
	// Dir is the cache root (for example STATE_DIR/images). Images go to
	// Dir/<digest>/, downloaded kernel packages to Dir/debs/.
	Dir string
	// KestrelPath is a statically linked kestrel binary; it becomes /init.
	KestrelPath string
	// BusyboxPath is a statically linked busybox; empty means
	// DefaultBusyboxPath.
	BusyboxPath string
	// KernelDeb is a linux-image .deb to take the kernel and modules from.
	// Empty means: resolve linux-image-cloud-amd64 with apt-cache and
	// download it into Dir/debs, or reuse the newest one there when the
	// download fails.
	KernelDeb string
	// Compression of the initramfs; empty means CompressNone.
	Compression Compression
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Validate reports what is wrong with o, as an errdefs.ErrInvalidArgument.
// It does not look at the files.
func (o Options) Validate() error {
	switch {
	case o.Dir == "" || !filepath.IsAbs(o.Dir):
		return errdefs.Invalid("image dir %q: must be an absolute path", o.Dir)
	case o.KestrelPath == "":
		return errdefs.Invalid("kestrel path: required; build kestrel with CGO_ENABLED=0 and pass its path")
	}
	switch o.Compression {
	case "", CompressNone, CompressGzip:
	default:
		return errdefs.Invalid("compression %q: use %q or %q", o.Compression, CompressNone, CompressGzip)
	}
	return nil
}

// withDefaults returns o with empty fields filled in.
func (o Options) withDefaults() Options {
	if o.BusyboxPath == "" {
		o.BusyboxPath = DefaultBusyboxPath
	}
	if o.Compression == "" {
		o.Compression = CompressNone
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}
