// Package reaper collects the exit statuses of the agent's children. One
// goroutine waits on SIGCHLD and hands each status to whoever registered the
// pid, so exec code never races a zombie reaper for its own children's exit
// codes. As PID 1 the reaper also collects orphans (wait on any pid); as an
// ordinary process it waits only on the pids registered with it, so it never
// steals a status from other code in the same process.
package reaper

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reaper dispatches child exit statuses to registered pids.
type Reaper struct {
	all  bool
	stop chan struct{}
	done chan struct{}
	kick chan struct{}

	// spawnMu is held for reading while a child is started and registered,
	// and for writing while reaping, so a status is never reaped before the
	// pid that owns it is registered.
	spawnMu sync.RWMutex

	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	closed  bool
}

// New starts a reaper. With all set (PID 1 or a subreaper) it reaps every
// child, including orphans, and drops statuses nobody registered for.
// Close stops it.
func New(all bool) *Reaper {
	r := &Reaper{
		all:     all,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		waiters: map[int]chan syscall.WaitStatus{},
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		defer close(r.done)
		defer signal.Stop(sigs)
		for {
			select {
			case <-r.stop:
				return
			case <-sigs:
				r.reap()
			case <-r.kick:
				r.reap()
			}
		}
	}()
	return r
}

// Close stops the reaper. Registered waiters get no status afterwards.
// It is idempotent.
func (r *Reaper) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	return nil
}

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("reaper closed")

// Start runs start (which must start exactly one child and return its pid)
// and registers the pid before any status can be reaped. The returned
// channel receives the child's wait status once, then is closed.
func (r *Reaper) Start(start func() (int, error)) (int, <-chan syscall.WaitStatus, error) {
	r.spawnMu.RLock()
	defer r.spawnMu.RUnlock()
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return 0, nil, ErrClosed
	}
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.mu.Lock()
	r.waiters[pid] = ch
	r.mu.Unlock()
	// A SIGCHLD that arrived before registration has already been
	// consumed or is queued; reap once more so none is missed.
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return pid, ch, nil
}

// StartProcess starts a process with os.StartProcess under the reaper and
// releases Go's own handle on it, so only the reaper waits for it.
func (r *Reaper) StartProcess(name string, argv []string, attr *os.ProcAttr) (int, <-chan syscall.WaitStatus, error) {
	return r.Start(func() (int, error) {
		p, err := os.StartProcess(name, argv, attr)
		if err != nil {
			return 0, err
		}
		pid := p.Pid
		_ = p.Release()
		return pid, nil
	})
}

// reap collects every status available now.
func (r *Reaper) reap() {
	r.spawnMu.Lock()
	defer r.spawnMu.Unlock()
	if r.all {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				return
			}
			r.deliver(pid, syscall.WaitStatus(ws))
		}
	}
	r.mu.Lock()
	pids := make([]int, 0, len(r.waiters))
	for pid := range r.waiters {
		pids = append(pids, pid)
	}
	r.mu.Unlock()
	for _, pid := range pids {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		for err == unix.EINTR {
			got, err = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
		if err == unix.ECHILD {
			// Someone else reaped it; report an unknown status.
			r.deliver(pid, syscall.WaitStatus(0xff<<8))
			continue
		}
		if err != nil || got != pid {
			continue
		}
		r.deliver(pid, syscall.WaitStatus(ws))
	}
}

func (r *Reaper) deliver(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	ch, ok := r.waiters[pid]
	delete(r.waiters, pid)
	r.mu.Unlock()
	if ok {
		ch <- ws
		close(ch)
	}
}
