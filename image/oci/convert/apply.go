// Package convert turns the layers of an OCI image into one root
// filesystem: the layers are applied in order into a directory (whiteouts
// and opaque directories honoured; modes, owners, setuid bits, xattrs,
// symlinks, hardlinks and device nodes kept; no path may leave the root),
// and the directory becomes an ext4 file with e2fsprogs' mkfs.ext4 -d.
//
// It must run as root to keep owners and make device nodes.
package convert

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
)

// The OCI whiteout markers.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// maxSymlinkHops bounds the symlinks followed while resolving one path.
const maxSymlinkHops = 40

// Applier applies layers, in order, to one root directory.
type Applier struct {
	root string
	// MaxBytes bounds the bytes of file content written over all layers;
	// 0 means no bound.
	MaxBytes int64
	// Progress, when set, is called with the bytes of file content
	// written so far, now and then.
	Progress func(written int64)

	written int64
	layer   int
	// created holds the paths (relative, cleaned) the current layer made,
	// so an opaque marker removes only what lower layers left.
	created map[string]bool
	// dirs are the directories whose times are set once every layer is
	// in (writing into a directory changes its mtime).
	dirs []dirTimes
}

type dirTimes struct {
	path  string
	mtime time.Time
}

// NewApplier returns an Applier writing into root, an existing empty
// directory.
func NewApplier(root string) *Applier {
	return &Applier{root: root}
}

// Written is the bytes of file content written so far.
func (a *Applier) Written() int64 { return a.written }

// Apply applies one layer: a tar stream, plain, gzip or zstd compressed.
func (a *Applier) Apply(r io.Reader) error {
	a.layer++
	a.created = map[string]bool{}
	rd, closeFn, err := decompress(r)
	if err != nil {
		return fmt.Errorf("layer %d: %w", a.layer, err)
	}
	defer closeFn()
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.Invalid("layer %d: reading the tar stream: %v", a.layer, err)
		}
		if err := a.entry(hdr, tr); err != nil {
			return fmt.Errorf("layer %d: %w", a.layer, err)
		}
	}
}

// Finish sets the times of the directories, after the last layer.
func (a *Applier) Finish() error {
	for i := len(a.dirs) - 1; i >= 0; i-- {
		d := a.dirs[i]
		ts := []unix.Timespec{unix.NsecToTimespec(d.mtime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, d.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("setting times of %s: %w", d.path, err)
		}
	}
	return nil
}

// decompress sniffs r's compression.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.Invalid("reading gzip: %v", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, errdefs.Invalid("reading zstd: %v", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// cleanName checks a tar entry name and returns it relative and clean.
// Absolute names and names with a ".." component are refused: a layer
// names paths inside the image's root only.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errdefs.Invalid("entry %q is an absolute path: a layer may only name paths relative to the image's root", name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errdefs.Invalid("entry %q has a '..' component and would escape the image's root", name)
		}
	}
	p := path.Clean(name)
	if p == "." {
		return "", nil
	}
	return p, nil
}

// resolve returns the host path of rel's parent directory joined with
// rel's last component, following symlinks in the parents as the guest
// would, scoped to the root. A symlink that leads out of the root is
// refused. The last component itself is never followed.
func (a *Applier) resolve(rel string) (string, error) {
	dir, base := path.Split(rel)
	parent, err := a.resolveDir(strings.TrimSuffix(dir, "/"), rel)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}

// resolveDir resolves the directory rel (all components followed) to a
// host path inside the root; for names an error uses.
func (a *Applier) resolveDir(rel, entry string) (string, error) {
	cur := []string{}
	todo := []string{}
	if rel != "" {
		todo = strings.Split(rel, "/")
	}
	hops := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", errdefs.Invalid("entry %q: a symlink on its path leads out of the image's root", entry)
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := filepath.Join(a.root, filepath.Join(cur...), c)
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			cur = append(cur, c)
			continue
		}
		hops++
		if hops > maxSymlinkHops {
			return "", errdefs.Invalid("entry %q: too many symlinks on its path", entry)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = cur[:0]
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return filepath.Join(a.root, filepath.Join(cur...)), nil
}

// entry applies one tar header (and its content).
func (a *Applier) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	base := path.Base(rel)
	if rel == "" {
		// The root itself: keep its mode and owner.
		return a.attrs(a.root, hdr)
	}
	if base == opaqueMarker {
		return a.opaque(path.Dir(rel))
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		victim := path.Join(path.Dir(rel), strings.TrimPrefix(base, whiteoutPrefix))
		p, err := a.resolve(victim)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("applying whiteout %q: %w", hdr.Name, err)
		}
		return nil
	}
	p, err := a.resolve(rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	a.created[rel] = true

	st, lerr := os.Lstat(p)
	exists := lerr == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && st.IsDir()) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("entry %q: replacing: %w", hdr.Name, err)
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists || !st.IsDir() {
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", hdr.Name, err)
			}
		}
		a.dirs = append(a.dirs, dirTimes{p, hdr.ModTime})
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old tars use TypeRegA
		if err := a.writeFile(p, hdr, r); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	case tar.TypeLink:
		trel, err := cleanName(hdr.Linkname)
		if err != nil || trel == "" {
			return errdefs.Invalid("hardlink %q -> %q: the target must be a path inside the image's root", hdr.Name, hdr.Linkname)
		}
		tp, err := a.resolve(trel)
		if err != nil {
			return err
		}
		if err := os.Link(tp, p); err != nil {
			return errdefs.Invalid("hardlink %q -> %q: %v", hdr.Name, hdr.Linkname, err)
		}
		return nil // a hardlink shares its target's inode and attributes
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		if err := unix.Mknod(p, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return fmt.Errorf("entry %q: making the device node: %w", hdr.Name, err)
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return errdefs.Invalid("entry %q: unsupported tar entry type %q", hdr.Name, string(hdr.Typeflag))
	}
	return a.attrs(p, hdr)
}

// writeFile writes a regular file's content, counting it against MaxBytes.
func (a *Applier) writeFile(p string, hdr *tar.Header, r io.Reader) error {
	if a.MaxBytes > 0 && a.written+hdr.Size > a.MaxBytes {
		return errdefs.Exhausted("the image unpacks to more than %d MiB, the limit of this daemon", a.MaxBytes>>20)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	n, err := io.Copy(f, r)
	a.written += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("entry %q: writing: %w", hdr.Name, err)
	}
	if a.Progress != nil {
		a.Progress(a.written)
	}
	return nil
}

// attrs sets owner, mode, xattrs and times of p from hdr. The mode is set
// after the owner, since chown clears the setuid and setgid bits.
func (a *Applier) attrs(p string, hdr *tar.Header) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("entry %q: setting owner %d:%d: %w", hdr.Name, hdr.Uid, hdr.Gid, err)
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := unix.Lsetxattr(p, name, []byte(v), 0); err != nil {
			return fmt.Errorf("entry %q: setting xattr %s: %w", hdr.Name, name, err)
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := os.Chmod(p, tarMode(hdr.Mode)); err != nil {
			return fmt.Errorf("entry %q: setting mode: %w", hdr.Name, err)
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("entry %q: setting times: %w", hdr.Name, err)
		}
	}
	return nil
}

// tarMode turns a tar header's mode bits into an fs.FileMode for Chmod.
func tarMode(m int64) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// opaque empties dir of everything lower layers put there; what this
// layer made stays.
func (a *Applier) opaque(dir string) error {
	if dir == "." {
		dir = ""
	}
	p, err := a.resolveDir(dir, path.Join(dir, opaqueMarker))
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if a.created[path.Join(dir, e.Name())] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p, e.Name())); err != nil {
			return fmt.Errorf("applying opaque directory %q: %w", dir, err)
		}
	}
	return nil
}
