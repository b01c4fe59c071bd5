package transport

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// A virtio-serial port signals its owner (SIGIO, with O_ASYNC and
// F_SETOWN) when its host connects or hangs up, and when data arrives.
// So a listener without a host can sleep until the host comes instead of
// looking at the port every few milliseconds: under TCG each look wakes
// the guest's vCPU and QEMU's main loop.

// notifySIGIO returns a channel that receives SIGIO. A wake may be for
// another port of the process, so the listener looks again at its own.
func notifySIGIO() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGIO)
	return c
}

// setAsync turns the device's signalling on or off and says whether the
// device now signals this process. A session turns it off: the port would
// signal every buffer it receives.
func setAsync(f *os.File, on bool) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		if on {
			if _, err := unix.FcntlInt(fd, unix.F_SETOWN, os.Getpid()); err != nil {
				return
			}
		}
		flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		if err != nil {
			return
		}
		if on {
			flags |= unix.O_ASYNC
		} else {
			flags &^= unix.O_ASYNC
		}
		if _, err := unix.FcntlInt(fd, unix.F_SETFL, flags); err != nil {
			return
		}
		ok = on
	})
	return ok
}
