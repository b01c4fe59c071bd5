package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// process is a VMM process found through a pidfd, so that its death is
// noticed whether or not it is our child (after a daemon restart it is
// not), and signals never reach a recycled pid.
type process struct {
	pid   int
	pidfd int
}

func openProcess(pid int) (*process, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("opening pidfd of %d: %w", pid, err)
	}
	return &process{pid: pid, pidfd: fd}, nil
}

// exited reports whether the process has ended, waiting up to timeout
// (0: not at all; negative: for ever).
func (p *process) exited(timeout time.Duration) bool {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout / time.Millisecond)
	}
	fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false
		}
		if n > 0 {
			p.reap()
			return true
		}
		return false
	}
}

// reap collects the exit status if the process is our child, so it does
// not linger as a zombie; for an adopted process it is a no-op.
func (p *process) reap() {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
}

// waitExit waits until the process has ended or ctx is done.
func (p *process) waitExit(ctx context.Context) error {
	for {
		if p.exited(100 * time.Millisecond) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// kill sends SIGKILL through the pidfd.
func (p *process) kill() error {
	err := unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func (p *process) signal(sig unix.Signal) error {
	return unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
}

func (p *process) close() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// watch closes done when the process exits; it returns a stop function
// that ends the watch (without closing done) and waits for it.
func (p *process) watch(done chan struct{}) (stop func()) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		// Without an eventfd, fall back to polling with a timeout.
		quit := make(chan struct{})
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			for {
				if p.exited(500 * time.Millisecond) {
					close(done)
					return
				}
				select {
				case <-quit:
					return
				default:
				}
			}
		}()
		return func() { close(quit); <-ended }
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		fds := []unix.PollFd{
			{Fd: int32(p.pidfd), Events: unix.POLLIN},
			{Fd: int32(efd), Events: unix.POLLIN},
		}
		for {
			_, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if fds[0].Revents != 0 || err != nil {
				p.reap()
				close(done)
				return
			}
			if fds[1].Revents != 0 {
				return
			}
		}
	}()
	return func() {
		var one [8]byte
		one[0] = 1
		unix.Write(efd, one[:])
		<-ended
		unix.Close(efd)
	}
}

// readPID reads a pid file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, b)
	}
	return pid, nil
}

// isQEMUFor reports whether pid is a live QEMU whose command line names dir.
func isQEMUFor(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return false
	}
	args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	if !bytes.Contains(args[0], []byte("qemu")) {
		return false
	}
	for _, a := range args[1:] {
		if bytes.Contains(a, []byte(dir+"/")) {
			return true
		}
	}
	return false
}
