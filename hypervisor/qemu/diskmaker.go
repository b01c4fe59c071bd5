package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

var (
	_ hypervisor.DiskMaker = (*Driver)(nil)
	_ hypervisor.Versioner = (*Driver)(nil)
)

// userNetAddr is the addressing of QEMU's user-mode stack (slirp's
// defaults: the guest is 10.0.2.15, the host side 10.0.2.2, DNS 10.0.2.3).
var userNetAddr = hypervisor.UserNetAddr{IP: "10.0.2.15/24", Gateway: "10.0.2.2", DNS: "10.0.2.3"}

// CreateDisk makes an empty qcow2 or raw image with qemu-img.
func (d *Driver) CreateDisk(ctx context.Context, disk hypervisor.Disk, sizeMiB int) error {
	if err := checkDiskFormat(disk.Format); err != nil {
		return err
	}
	if sizeMiB < 1 {
		return errdefs.Invalid("disk size %d MiB: must be at least 1", sizeMiB)
	}
	if _, err := os.Stat(disk.Path); err == nil {
		return fmt.Errorf("disk %s: %w", disk.Path, errdefs.ErrAlreadyExists)
	}
	img, err := d.imgTool()
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, img, "create", "-q", "-f", disk.Format, disk.Path, strconv.Itoa(sizeMiB)+"M").CombinedOutput()
	if err != nil {
		_ = os.Remove(disk.Path)
		return fmt.Errorf("creating disk %s: %v: %s", disk.Path, err, out)
	}
	return nil
}

// FlattenDisk copies src into a standalone image at dst with qemu-img
// convert (-U: src may be open in a paused VM). It writes dst.Path+".tmp"
// and renames it, so a hard link to the old dst keeps its content.
func (d *Driver) FlattenDisk(ctx context.Context, src, dst hypervisor.Disk) error {
	if err := checkDiskFormat(dst.Format); err != nil {
		return err
	}
	img, err := d.imgTool()
	if err != nil {
		return err
	}
	tmp := dst.Path + ".tmp"
	out, err := exec.CommandContext(ctx, img, "convert", "-U", "-q", "-O", dst.Format, src.Path, tmp).CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("copying disk %s: %v: %s", src.Path, err, out)
	}
	return os.Rename(tmp, dst.Path)
}

func checkDiskFormat(f string) error {
	if f != "qcow2" && f != "raw" {
		return errdefs.Invalid("disk format %q: qemu takes qcow2 or raw", f)
	}
	return nil
}

// imgTool is qemu-img, or an error saying how to install it.
func (d *Driver) imgTool() (string, error) {
	if d.qemuImg == "" {
		return "", errdefs.Unavailable("data disks need qemu-img (apt-get install qemu-utils)")
	}
	return d.qemuImg, nil
}
