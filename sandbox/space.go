package sandbox

import (
	"syscall"

	"github.com/volant-sh/volant/errdefs"
)

// freeMiB is the space left to unprivileged writers in dir's file system.
func freeMiB(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * st.Bsize >> 20, true
}

// explainNoSpace turns the error of a snapshot into dir that failed while
// its file system has less room than the guest's memory (what a snapshot
// may need) into a resource-exhausted error that says so: the VMM's own
// error rarely does.
func explainNoSpace(err error, dir string, memoryMiB int) error {
	free, ok := freeMiB(dir)
	if !ok || free >= int64(memoryMiB) {
		return err
	}
	return errdefs.WithRemedy(errdefs.Exhausted("no space for the snapshot: %s has %d MiB free and a snapshot of this sandbox may need up to %d MiB (its memory); free space in the state directory or delete snapshots (%v)",
		dir, free, memoryMiB, err), errdefs.OpSnapshotList)
}
