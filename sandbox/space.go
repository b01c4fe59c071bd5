package sandbox

import (
	"github.com/volant-sh/volant/errdefs"
)

// explainNoSpace turns the error of a snapshot into dir that failed while
// its file system has less room than the guest's memory (what a snapshot
// may need) into a resource-exhausted error that says so: the VMM's own
// error rarely does.
func explainNoSpace(err error, dir string, memoryMiB int) error {
	free, ferr := freeMiB(dir) // diskspace.go
	if ferr != nil || free >= int64(memoryMiB) {
		return err
	}
	return errdefs.WithRemedy(errdefs.Exhausted("no space for the snapshot: %s has %d MiB free and a snapshot of this sandbox may need up to %d MiB (its memory); free space in the state directory or delete snapshots (%v)",
		dir, free, memoryMiB, err), errdefs.OpSnapshotList)
}
