package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/qemu/qmp"
)

// VM is one QEMU process. Its life is the process's: contexts passed to its
// methods bound single calls.
type VM struct {
	id  string
	dir string
	drv *Driver
	// snapMu serialises snapshots, which update rec.
	snapMu  sync.Mutex
	rec     record
	proc    *process
	log     *slog.Logger
	done    chan struct{}
	unwatch func()

	qmp     *qmp.Client
	console *consoleCopier

	// agentMu serialises (re)connecting the agent session.
	agentMu sync.Mutex
	agent   *agentSession
	// agentStale is set on a restored VM until a new agent session has
	// been seen to work.
	agentStale bool

	closeMu sync.Mutex // held across Close and kill
	closed  bool
}

func newVM(d *Driver, dir string, rec record, p *process) *VM {
	vm := &VM{
		id:   rec.ID,
		dir:  dir,
		drv:  d,
		rec:  rec,
		proc: p,
		log:  d.log.With("vm", rec.ID),
		done: make(chan struct{}),
	}
	vm.unwatch = p.watch(vm.done)
	return vm
}

// connect connects QMP and the console.
func (vm *VM) connect(ctx context.Context) error {
	var c *qmp.Client
	err := vm.whileRefused(ctx, func() (err error) {
		c, err = qmp.Dial(ctx, filepath.Join(vm.dir, qmpSocket))
		return err
	})
	if err != nil {
		return err
	}
	vm.qmp = c
	var cons *consoleCopier
	err = vm.whileRefused(ctx, func() (err error) {
		cons, err = startConsole(ctx, filepath.Join(vm.dir, consoleSocket), vm.ConsoleLogPath(), vm.rec.ConsoleLogBytes)
		return err
	})
	if err != nil {
		return fmt.Errorf("connecting the console: %w", errors.Join(errdefs.ErrUnavailable, err))
	}
	vm.console = cons
	return nil
}

// whileRefused calls dial again while it fails with a refused connection:
// QEMU creates a socket file before it listens on it, so a client that
// comes in between is refused. It stops when QEMU exits or ctx ends.
func (vm *VM) whileRefused(ctx context.Context, dial func() error) error {
	for {
		err := dial()
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || ctx.Err() != nil {
			return err
		}
		if vm.proc.exited(10 * time.Millisecond) {
			return err
		}
	}
}

// ID is the VM's id.
func (vm *VM) ID() string { return vm.id }

// Dir is the VM's runtime directory.
func (vm *VM) Dir() string { return vm.dir }

// PID is QEMU's process id.
func (vm *VM) PID() int { return vm.proc.pid }

// Accel is the accelerator the VM runs under, "kvm" or "tcg".
func (vm *VM) Accel() string { return vm.rec.Launch.Accel }

// ConsoleLogPath is the bounded tail of the serial console.
func (vm *VM) ConsoleLogPath() string { return filepath.Join(vm.dir, consoleLog) }

// Done is closed when QEMU exits. It is driven by a pidfd, so it works for
// adopted VMs too; after Close it is no longer watched.
func (vm *VM) Done() <-chan struct{} { return vm.done }

func (vm *VM) exited() bool {
	select {
	case <-vm.done:
		return true
	default:
		return vm.proc.exited(0)
	}
}

// State asks QEMU for the run state.
func (vm *VM) State(ctx context.Context) (hypervisor.State, error) {
	if vm.exited() {
		return hypervisor.StateStopped, nil
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := vm.qmp.Execute(ctx, "query-status", nil, &st); err != nil {
		if vm.exited() {
			return hypervisor.StateStopped, nil
		}
		return hypervisor.StateUnknown, fmt.Errorf("vm %s state: %w", vm.id, err)
	}
	switch st.Status {
	case "running":
		return hypervisor.StateRunning, nil
	case "paused", "suspended", "prelaunch", "inmigrate", "postmigrate", "finish-migrate", "save-vm", "restore-vm":
		return hypervisor.StatePaused, nil
	case "shutdown", "guest-panicked", "internal-error", "io-error":
		return hypervisor.StateStopped, nil
	}
	return hypervisor.StateUnknown, nil
}

// Pause stops the guest's vCPUs.
func (vm *VM) Pause(ctx context.Context) error {
	if err := vm.qmp.Execute(ctx, "stop", nil, nil); err != nil {
		return fmt.Errorf("pausing vm %s: %w", vm.id, err)
	}
	return nil
}

// Resume lets a paused guest run again.
func (vm *VM) Resume(ctx context.Context) error {
	if err := vm.qmp.Execute(ctx, "cont", nil, nil); err != nil {
		return fmt.Errorf("resuming vm %s: %w", vm.id, err)
	}
	return nil
}

// Shutdown presses the ACPI power button (system_powerdown) and waits for
// QEMU to exit until ctx ends; then it kills QEMU. Either way it removes
// the VM's directory. A guest whose init ignores the power button can be
// asked to power off through the agent before calling Shutdown.
func (vm *VM) Shutdown(ctx context.Context) error {
	if !vm.exited() && vm.qmp != nil {
		if err := vm.qmp.Execute(ctx, "system_powerdown", nil, nil); err != nil {
			vm.log.Debug("system_powerdown failed; killing", "err", err)
		} else if vm.proc.waitExit(ctx) == nil {
			vm.log.Info("vm shut down")
		}
	}
	return vm.Kill()
}

// Kill ends QEMU with SIGKILL, waits for it to exit and removes the VM's
// directory (sockets, pid file, logs): nothing is left behind.
func (vm *VM) Kill() error {
	err := vm.kill()
	vm.Close()
	if rerr := os.RemoveAll(vm.dir); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("killing vm %s: %w", vm.id, err)
	}
	return nil
}

// kill sends SIGKILL and waits (bounded) for the process to end.
func (vm *VM) kill() error {
	vm.closeMu.Lock()
	defer vm.closeMu.Unlock()
	if vm.closed {
		// Close gave up the pidfd: find the process again, if it is still
		// this VM's QEMU.
		p, err := openProcess(vm.proc.pid)
		if err != nil {
			return nil
		}
		defer p.close()
		if !isQEMUFor(vm.proc.pid, vm.dir) {
			return nil
		}
		return killAndWait(p)
	}
	return killAndWait(vm.proc)
}

func killAndWait(p *process) error {
	if err := p.kill(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.waitExit(ctx); err != nil {
		return errdefs.Unavailable("qemu %d did not exit after SIGKILL", p.pid)
	}
	return nil
}

// Close drops the QMP, console and agent connections and stops watching
// the process, leaving QEMU running so another process can Attach. It is
// idempotent.
func (vm *VM) Close() error {
	vm.closeMu.Lock()
	defer vm.closeMu.Unlock()
	if vm.closed {
		return nil
	}
	vm.closed = true
	{
		vm.agentMu.Lock()
		if vm.agent != nil {
			vm.agent.close()
			vm.agent = nil
		}
		vm.agentMu.Unlock()
		if vm.console != nil {
			vm.console.stop()
		}
		if vm.qmp != nil {
			vm.qmp.Close()
		}
		vm.unwatch()
		vm.proc.close()
	}
	return nil
}

// newYamuxConfig is the host side's yamux configuration, the counterpart
// of kestrel's: keepalives off (a paused or snapshotted guest must not be
// declared dead), logs discarded.
func newYamuxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.EnableKeepAlive = false
	c.LogOutput = io.Discard
	return c
}
