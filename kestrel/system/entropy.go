package system

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// urandom is /dev/urandom, opened once for the life of the agent: the
// first reconfigure of every restore otherwise opened and closed it, and
// under TCG the open, the os.File around it and the RCU work its close
// queues ran on a cold translation cache before the guest's answer.
// New opens it at boot, so it is open in every snapshot; a failed open is
// tried again at the next use.
func urandom() (int, error) {
	urandomFD.mu.Lock()
	defer urandomFD.mu.Unlock()
	if urandomFD.open {
		return urandomFD.fd, nil
	}
	fd, err := unix.Open("/dev/urandom", unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	urandomFD.fd, urandomFD.open = fd, true
	return fd, nil
}

var urandomFD struct {
	mu   sync.Mutex
	fd   int
	open bool
}

// addEntropy mixes data into the kernel pool and, as root, credits it
// (RNDADDENTROPY, which mixes it too), so a restored clone does not share
// its parent's stream. Without root it only mixes it (a write).
func addEntropy(data []byte) error {
	fd, err := urandom()
	if err != nil {
		return fmt.Errorf("opening /dev/urandom: %w", err)
	}
	if os.Geteuid() == 0 {
		// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
		buf := make([]byte, 8+len(data)+3)
		*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(data) * 8)
		*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(data))
		copy(buf[8:], data)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&buf[0])))
		if errno != 0 {
			return fmt.Errorf("crediting entropy: %w", errno)
		}
		return nil
	}
	if _, err := unix.Write(fd, data); err != nil {
		return fmt.Errorf("writing entropy: %w", err)
	}
	return nil
}
