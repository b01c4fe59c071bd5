package transport

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// hostWaiter lets the serial listener sleep while no host is connected
// instead of polling the port (which, under TCG, costs the guest a wake-up
// every few milliseconds for as long as it idles). The port is in an
// edge-triggered epoll set of the waiter's own: virtio-console wakes the
// port's wait queue when the host opens or closes its end and when data
// arrives, and each wake-up queues one event, even while nobody waits. So
// a wake-up between the listener's look at the port and its wait is not
// lost. An eventfd in the same set lets Close interrupt the wait.
type hostWaiter struct {
	epfd, evfd int
	max        time.Duration
	ok         bool
}

// newHostWaiter watches f's wake-ups; max bounds each wait. Where epoll
// cannot watch f the waiter only sleeps max (the old poll).
func newHostWaiter(f *os.File, max time.Duration) *hostWaiter {
	w := &hostWaiter{epfd: -1, evfd: -1, max: max}
	rc, err := f.SyscallConn()
	if err != nil {
		return w
	}
	var fd int
	if rc.Control(func(u uintptr) { fd = int(u) }) != nil {
		return w
	}
	if w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		w.epfd = -1
		return w
	}
	if w.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		w.evfd = -1
		return w
	}
	// f stays open for the waiter's whole life: the listener closes it
	// only after its run loop, which owns the waiter, has ended.
	port := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}
	kick := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(w.evfd)}
	w.ok = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &port) == nil &&
		unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.evfd, &kick) == nil
	return w
}

// wait returns after the port's next wake-up (or one queued since the
// last wait), a kick, or max. A wake-up may be spurious: the caller looks
// at the port again.
func (w *hostWaiter) wait() {
	if !w.ok {
		time.Sleep(w.max)
		return
	}
	ev := make([]unix.EpollEvent, 2)
	ms := int(w.max / time.Millisecond)
	for {
		_, err := unix.EpollWait(w.epfd, ev, max(ms, 1))
		if err != unix.EINTR {
			return
		}
	}
}

// kick ends a wait at once (and the next one, if none is under way).
func (w *hostWaiter) kick() {
	if w.evfd >= 0 {
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		_, _ = unix.Write(w.evfd, one)
	}
}

func (w *hostWaiter) close() {
	if w.epfd >= 0 {
		unix.Close(w.epfd)
	}
	if w.evfd >= 0 {
		unix.Close(w.evfd)
	}
}
