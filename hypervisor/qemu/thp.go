package qemu

import (
	"sync"

	"golang.org/x/sys/unix"
)

var thpOnce sync.Once

// noHugePages turns transparent huge pages off for this process and the
// QEMUs it starts (the flag is inherited across fork and exec), once TCG is
// the accelerator. QEMU asks for huge pages on guest RAM and on TCG's code
// buffer; each clone of a snapshot then holds 2 MiB pages of its own where
// it wrote a few bytes. Under KVM huge pages speed the guest up, so the
// flag is left alone there.
func noHugePages() {
	thpOnce.Do(func() { _ = unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0) })
}
