package cloudhypervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

// CreateDisk makes an empty raw image: a sparse file of sizeMiB.
func (d *Driver) CreateDisk(ctx context.Context, disk hypervisor.Disk, sizeMiB int) error {
	if disk.Format != "raw" {
		return errdefs.Invalid("disk format %q: the cloud-hypervisor driver makes raw disks", disk.Format)
	}
	if sizeMiB < 1 {
		return errdefs.Invalid("disk size %d MiB: must be at least 1", sizeMiB)
	}
	f, err := os.OpenFile(disk.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("disk %s: %w", disk.Path, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return err
	}
	err = f.Truncate(int64(sizeMiB) << 20)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(disk.Path)
	}
	return err
}

// FlattenDisk copies src to dst. The driver's images have no backing
// chains (a snapshot copies the disk whole), so a copy is a flat image;
// the format stays (raw, or a qcow2 made elsewhere). It writes
// dst.Path+".tmp" and renames it, so a hard link to the old dst keeps its
// content.
func (d *Driver) FlattenDisk(ctx context.Context, src, dst hypervisor.Disk) error {
	if src.Format != dst.Format {
		return errdefs.Invalid("flattening %s (%s) to %s: the cloud-hypervisor driver copies images and does not convert them", src.Path, src.Format, dst.Format)
	}
	if _, err := imageType(src.Format); err != nil {
		return errdefs.Invalid("flattening %s: %v", src.Path, err)
	}
	tmp := dst.Path + ".tmp"
	if err := copySparse(src.Path, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst.Path)
}

// copySparse copies the file src to a new file dst: a reflink where the
// file system has them, else the data extents only (holes stay holes).
func copySparse(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return nil
	}
	size := st.Size()
	if err := out.Truncate(size); err != nil {
		return err
	}
	var off int64
	for off < size {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			break // no more data (ENXIO): the rest is a hole
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, data), io.NewSectionReader(in, data, hole-data)); err != nil {
			return err
		}
		off = hole
	}
	return nil
}
