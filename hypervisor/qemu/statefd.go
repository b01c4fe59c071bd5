package qemu

import (
	"context"
	"fmt"
	"os"
)

// stateFDName names, in QEMU, the descriptor of the state file a
// migration reads or writes (getfd, then the URI "fd:volant-state").
const stateFDName = "volant-state"

// passFile hands QEMU a descriptor of f under stateFDName, for the next
// migration. QEMU then reads or writes the file itself, where an exec:
// URI ran a shell and a cat for each snapshot and each restore and copied
// the state through a pipe. The migration closes QEMU's copy; f stays the
// caller's.
func (vm *VM) passFile(ctx context.Context, f *os.File) error {
	if err := vm.qmp.ExecuteWithFile(ctx, "getfd", map[string]any{"fdname": stateFDName}, nil, f); err != nil {
		return fmt.Errorf("passing %s to qemu: %w", f.Name(), err)
	}
	return nil
}
