package network

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"

	"github.com/volant-sh/volant/errdefs"
)

// inNamespace runs fn on an OS thread that is inside the Manager's network
// namespace. With no namespace set it just calls fn. Otherwise fn runs on a
// fresh goroutine locked to its thread; the thread is switched back
// afterwards, and if that fails it is left locked so the runtime discards it
// rather than reusing a thread in the wrong namespace.
func (m *Manager) inNamespace(fn func() error) error {
	if !m.ns.IsOpen() {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("getting current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(m.ns); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("restoring namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// classify maps a kernel error onto an errdefs class, keeping its text.
func classify(err error) error {
	var errno syscall.Errno
	switch {
	case err == nil:
		return nil
	case errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.EACCES):
		return fmt.Errorf("%w (volantd needs CAP_NET_ADMIN): %w", errdefs.ErrUnavailable, err)
	case errors.As(err, &errno) && errno == syscall.EEXIST:
		return fmt.Errorf("%w: %w", errdefs.ErrAlreadyExists, err)
	case errors.As(err, &errno) && (errno == syscall.ENODEV || errno == syscall.ENOENT):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	case errors.As(err, &errno) && errno == syscall.EBUSY:
		return fmt.Errorf("%w: %w", errdefs.ErrConflict, err)
	}
	return err
}
