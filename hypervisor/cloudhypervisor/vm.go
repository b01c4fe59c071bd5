package cloudhypervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
)

var (
	_ hypervisor.VM           = (*VM)(nil)
	_ hypervisor.Pauser       = (*VM)(nil)
	_ hypervisor.Snapshotter  = (*VM)(nil)
	_ hypervisor.DiskReporter = (*VM)(nil)
)

// record is what a VM directory says about its VM, for Attach.
type record struct {
	ID              string            `json:"id"`
	ConsoleLogBytes int64             `json:"console_log_bytes"`
	Config          hypervisor.Config `json:"config"`
	// Disks are the images the VM writes now (its own copies after a
	// restore).
	Disks []hypervisor.Disk `json:"disks,omitempty"`
}

func writeRecord(dir string, r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, recordFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, recordFile))
}

func readRecord(dir string) (record, error) {
	var r record
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return r, errdefs.NotFound("no cloud-hypervisor vm in %s: %v", dir, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("vm record in %s: %w", dir, err)
	}
	return r, nil
}

// VM is one cloud-hypervisor process and its guest.
type VM struct {
	d    *Driver
	id   string
	dir  string
	rec  record
	proc *process
	api  *apiClient

	done      chan struct{}
	stopWatch func()

	mu      sync.Mutex
	console *consoleTail
	closed  bool
}

func newVM(d *Driver, dir string, rec record, p *process) *VM {
	vm := &VM{d: d, id: rec.ID, dir: dir, rec: rec, proc: p, api: newAPIClient(paths{dir}.api()), done: make(chan struct{})}
	vm.stopWatch = p.watch(vm.done)
	return vm
}

// Boot starts cloud-hypervisor for cfg, creates and boots the VM. It
// returns once the VMM runs the guest, not once the agent answers. On
// error nothing is left: no process, no directory.
func (d *Driver) Boot(ctx context.Context, cfg hypervisor.Config) (_ hypervisor.VM, err error) {
	if cfg.Net.Mode == "" {
		cfg.Net.Mode = hypervisor.NetNone
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	vc, err := buildVMConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, errdefs.Invalid("%v", err))
	}
	vm, err := d.launch(ctx, cfg, record{ID: cfg.ID, Config: cfg, Disks: slices.Clone(cfg.Disks)})
	if err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, err)
	}
	defer func() {
		if err != nil {
			_ = vm.Kill()
		}
	}()
	if err := vm.api.create(ctx, vc); err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, err)
	}
	if err := vm.api.put(ctx, "vm.boot"); err != nil {
		return nil, fmt.Errorf("booting %s: %w%s", cfg.ID, err, vm.vmmLogTail())
	}
	vm.startConsole(ctx)
	d.log.Info("vm booted", "vm", cfg.ID, "pid", vm.PID())
	return vm, nil
}

// launch prepares cfg.Dir, starts cloud-hypervisor in its own session
// with its API socket there, writes the pid file and record, and waits
// until the API answers.
func (d *Driver) launch(ctx context.Context, cfg hypervisor.Config, rec record) (_ *VM, err error) {
	if pid, err := readPID(filepath.Join(cfg.Dir, pidFile)); err == nil && isVMMFor(pid, cfg.Dir) {
		return nil, fmt.Errorf("vm dir %s: %w", cfg.Dir, errdefs.ErrAlreadyExists)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating vm dir: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(cfg.Dir)
		}
	}()
	p := paths{cfg.Dir}
	for _, f := range []string{p.api(), p.vsock(), p.serial(), p.console(), filepath.Join(cfg.Dir, pidFile)} {
		os.Remove(f)
	}
	rec.ConsoleLogBytes = cfg.ConsoleLogBytes
	if rec.ConsoleLogBytes <= 0 {
		rec.ConsoleLogBytes = defaultConsoleLogBytes
	}
	if err := writeRecord(cfg.Dir, rec); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, vmmLog), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(d.bin, buildArgs(p)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: the VMM outlives the daemon and its terminal.
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", d.bin, err)
	}
	pid := cmd.Process.Pid
	proc, err := openProcess(pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	_ = cmd.Process.Release() // reaped through the pidfd's watcher
	if err := os.WriteFile(filepath.Join(cfg.Dir, pidFile), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		proc.kill()
		proc.exited(-1)
		proc.close()
		return nil, err
	}
	vm := newVM(d, cfg.Dir, rec, proc)
	if _, err := vm.api.waitAPI(ctx, func() bool { return vm.exited() }); err != nil {
		tail := vm.vmmLogTail()
		_ = vm.Kill()
		return nil, fmt.Errorf("%w%s", err, tail)
	}
	return vm, nil
}

// buildArgs is the command line of a VMM for the VM directory p.
func buildArgs(p paths) []string {
	return []string{"--api-socket", "path=" + p.api()}
}

// vmmLogTail is the end of the VMM's own output, for errors.
func (vm *VM) vmmLogTail() string {
	b, _ := os.ReadFile(filepath.Join(vm.dir, vmmLog))
	if len(b) == 0 {
		return ""
	}
	if len(b) > 1024 {
		b = b[len(b)-1024:]
	}
	return "; vmm output: " + string(b)
}

func (vm *VM) exited() bool {
	select {
	case <-vm.done:
		return true
	default:
		return false
	}
}

// startConsole tails the serial socket into the console log. A VMM that
// has none yet (booting) is retried in the background for a while.
func (vm *VM) startConsole(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := tailConsole(ctx, paths{vm.dir}.serial(), paths{vm.dir}.console(), vm.rec.ConsoleLogBytes)
	if err != nil {
		vm.d.log.Warn("no console log", "vm", vm.id, "err", err)
		// The console log exists even so, for readers.
		if f, err := os.OpenFile(paths{vm.dir}.console(), os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			f.Close()
		}
		return
	}
	vm.mu.Lock()
	vm.console = c
	vm.mu.Unlock()
}

// ID is the VM's id.
func (vm *VM) ID() string { return vm.id }

// Dir is the VM's runtime directory.
func (vm *VM) Dir() string { return vm.dir }

// PID is the VMM's process id.
func (vm *VM) PID() int { return vm.proc.pid }

// Done is closed when the VMM has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// ConsoleLogPath is the bounded log of the serial console.
func (vm *VM) ConsoleLogPath() string { return paths{vm.dir}.console() }

// ActiveDisks are the images the VM writes now.
func (vm *VM) ActiveDisks() []hypervisor.Disk { return slices.Clone(vm.rec.Disks) }

// State asks the VMM (vm.info); a VMM that has exited is stopped.
func (vm *VM) State(ctx context.Context) (hypervisor.State, error) {
	if vm.exited() {
		return hypervisor.StateStopped, nil
	}
	info, err := vm.api.info(ctx)
	if err != nil {
		if vm.exited() {
			return hypervisor.StateStopped, nil
		}
		return hypervisor.StateUnknown, err
	}
	return stateOf(info.State), nil
}

// stateOf maps the document's VmState onto hypervisor.State.
func stateOf(s string) hypervisor.State {
	switch s {
	case "Running":
		return hypervisor.StateRunning
	case "Paused":
		return hypervisor.StatePaused
	case "Shutdown", "Created":
		return hypervisor.StateStopped
	}
	return hypervisor.StateUnknown
}

// DialAgent opens a connection to the agent over hybrid vsock, retrying
// while the guest boots or is being restored, until ctx ends.
func (vm *VM) DialAgent(ctx context.Context) (net.Conn, error) {
	if vm.exited() {
		return nil, errdefs.Unavailable("vm %s: the vmm has exited", vm.id)
	}
	return dialHybridVsock(ctx, paths{vm.dir}.vsock(), client.VsockPort)
}

// Pause pauses the guest's vCPUs (vm.pause).
func (vm *VM) Pause(ctx context.Context) error { return vm.api.put(ctx, "vm.pause") }

// Resume resumes a paused guest (vm.resume).
func (vm *VM) Resume(ctx context.Context) error { return vm.api.put(ctx, "vm.resume") }

// Resize changes the number of vCPUs or the memory of a running guest
// (vm.resize); 0 leaves a value as it is.
func (vm *VM) Resize(ctx context.Context, vcpus, memoryMiB int) error {
	return vm.api.resize(ctx, vmResize{DesiredVCPUs: vcpus, DesiredRAM: int64(memoryMiB) << 20})
}

// Shutdown presses the guest's power button and waits until the guest is
// down or ctx ends; then it shuts the VM and the VMM down (killing it if
// it does not go) and removes the runtime files.
func (vm *VM) Shutdown(ctx context.Context) error {
	if !vm.exited() {
		if err := vm.api.put(ctx, "vm.power-button"); err == nil {
			vm.waitDown(ctx)
		}
	}
	if !vm.exited() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if st, err := vm.State(sctx); err == nil && st != hypervisor.StateStopped {
			_ = vm.api.put(sctx, "vm.shutdown")
		}
		_ = vm.api.put(sctx, "vmm.shutdown")
		_ = vm.proc.waitExit(sctx)
		cancel()
	}
	return vm.Kill()
}

// waitDown waits until the guest has shut down or the VMM exited.
func (vm *VM) waitDown(ctx context.Context) {
	for {
		if st, err := vm.State(ctx); err == nil && st == hypervisor.StateStopped {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-vm.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill ends the VMM at once and removes the VM's runtime files.
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

// kill sends SIGKILL and waits (bounded) for the process to end. After
// Close gave up the pidfd, it finds the process again, if it is still
// this VM's VMM.
func (vm *VM) kill() error {
	vm.mu.Lock()
	closed := vm.closed
	vm.mu.Unlock()
	p := vm.proc
	if closed {
		var err error
		if p, err = openProcess(vm.proc.pid); err != nil {
			return nil
		}
		defer p.close()
		if !isVMMFor(p.pid, vm.dir) {
			return nil
		}
	}
	if err := p.kill(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.waitExit(ctx); err != nil {
		return errors.New("the vmm did not exit 30s after SIGKILL")
	}
	if !closed {
		<-vm.done
	}
	return nil
}

// Close lets go of the VM without stopping it.
func (vm *VM) Close() error {
	vm.mu.Lock()
	if vm.closed {
		vm.mu.Unlock()
		return nil
	}
	vm.closed = true
	c := vm.console
	vm.mu.Unlock()
	if c != nil {
		c.stop()
	}
	vm.api.close()
	vm.stopWatch()
	vm.proc.close()
	return nil
}
