package qemu

import (
	"context"
	"fmt"
	"os"
)

// stateFDName names, in QEMU, the descriptor of the state file a
// migration reads or writes (getfd, then the URI "fd:volant-state").
const stateFDName = "volant-state"

// passStateFile opens path (to write, made anew, when write is set; else
// to read) and hands QEMU its descriptor under stateFDName, for the next
// migration. QEMU then reads or writes the file itself, where an exec:
// URI ran a shell and a cat for each snapshot and each restore and copied
// the state through a pipe. The migration closes QEMU's copy.
func (vm *VM) passStateFile(ctx context.Context, path string, write bool) error {
	flag := os.O_RDONLY
	if write {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := vm.qmp.ExecuteWithFile(ctx, "getfd", map[string]any{"fdname": stateFDName}, nil, f); err != nil {
		return fmt.Errorf("passing %s to qemu: %w", path, err)
	}
	return nil
}
