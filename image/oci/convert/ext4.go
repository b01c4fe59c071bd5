package convert

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/volant-sh/volant/errdefs"
)

// MkfsPath is the mkfs.ext4 MakeExt4 runs.
var MkfsPath = "/usr/sbin/mkfs.ext4"

// Label is the ext4 volume label of every image root filesystem.
const Label = "volant-rootfs"

// TreeSize is what a directory tree needs of an ext4 file system.
type TreeSize struct {
	// Bytes is the content rounded up to 4 KiB blocks, directories
	// included, each inode's data counted once (hardlinks share it).
	Bytes int64
	// Inodes is the number of distinct inodes.
	Inodes int64
}

// MeasureTree sums what the tree at root takes.
func MeasureTree(root string) (TreeSize, error) {
	var ts TreeSize
	seen := map[uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		ts.Inodes++
		ts.Bytes += (info.Size() + 4095) &^ 4095
		if d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			ts.Bytes += 4096
		}
		return nil
	})
	return ts, err
}

// Ext4Size returns the size of the ext4 file for a tree: its content plus
// room for the file system's metadata (inode tables, bitmaps) and 20 %
// (at least 64 MiB) of headroom, rounded up to 1 MiB.
func Ext4Size(ts TreeSize) (sizeBytes, inodes int64) {
	inodes = ts.Inodes + ts.Inodes/4 + 4096
	meta := inodes*256 + ts.Bytes/64
	head := max(ts.Bytes/5, 64<<20)
	sizeBytes = ts.Bytes + meta + head
	sizeBytes = (sizeBytes + (1<<20 - 1)) &^ (1<<20 - 1)
	return sizeBytes, inodes
}

// MakeExt4 makes out, an ext4 file holding the tree at root, sized by
// Ext4Size. out is written in place: the caller writes to a temporary
// name and renames it. The file system has no journal (it is mounted
// read-only) and no reserved blocks.
func MakeExt4(ctx context.Context, root, out string) error {
	ts, err := MeasureTree(root)
	if err != nil {
		return fmt.Errorf("measuring the root filesystem: %w", err)
	}
	size, inodes := Ext4Size(ts)
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sizing %s: %w", out, err)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-d", root, "-L", Label, "-m", "0",
		"-N", strconv.FormatInt(inodes, 10), "-O", "^has_journal", "-E", "lazy_itable_init=0,lazy_journal_init=0",
		out}
	cmd := exec.CommandContext(ctx, MkfsPath, args...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return errdefs.Unavailable("%s is missing: install e2fsprogs (apt-get install e2fsprogs)", MkfsPath)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("mkfs.ext4 -d of %d MiB into %d MiB: %v: %s", ts.Bytes>>20, size>>20, err, strings.TrimSpace(string(b)))
	}
	return nil
}
