package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
)

// DiskReserveMiB of the state directory's file system is kept free for the
// database, snapshots and logs: a data disk may use only what is above it.
const DiskReserveMiB = 512

// freeMiB reports the MiB an unprivileged writer may still use on the file
// system holding dir.
func freeMiB(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize) >> 20, nil
}

// checkDiskSpace refuses a data disk of mib MiB that the state directory's
// file system cannot hold (keeping DiskReserveMiB free), before any work is
// done: a disk is written in full by the guest's mkfs and by use, so a disk
// larger than the free space fails late, or fills the host's disk.
func (m *Manager) checkDiskSpace(mib int) error {
	if mib <= 0 {
		return nil
	}
	free := m.freeMiB
	if free == nil {
		free = freeMiB
	}
	avail, err := free(m.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("checking the free space of the state directory: %w", err)
	}
	if left := avail - DiskReserveMiB; int64(mib) > left {
		return errdefs.Exhausted("disk_mib %d: the host's state directory has %d MiB free and keeps %d MiB in reserve, so a data disk may be at most %d MiB; "+
			"ask for a smaller disk, or delete sandboxes and snapshots to free space", mib, avail, DiskReserveMiB, max(left, 0))
	}
	return nil
}
