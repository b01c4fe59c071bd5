package cloudhypervisor

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

// process is a VMM process held by a pidfd, so that a recycled pid is
// never signalled. It need not be our child (after a daemon restart).
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

// exited reports whether the process has exited, waiting up to timeout
// (negative: forever). It reaps it when it is our child.
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
		if err != nil || n == 0 {
			return false
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
		return true
	}
}

// waitExit waits until the process exits or ctx ends.
func (p *process) waitExit(ctx context.Context) error {
	for !p.exited(100 * time.Millisecond) {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (p *process) kill() error {
	err := unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

func (p *process) close() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// watch closes done when the process exits; stop ends the watch early.
func (p *process) watch(done chan struct{}) (stop func()) {
	quit := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if p.exited(200 * time.Millisecond) {
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

// isVMMFor reports whether pid is a VMM started for dir: its command
// line has --api-socket with a path in dir.
func isVMMFor(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return false
	}
	args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	for i, a := range args {
		if string(a) == "--api-socket" && i+1 < len(args) && bytes.Contains(args[i+1], []byte(dir+"/")) {
			return true
		}
	}
	return false
}
