package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"golang.org/x/sys/unix"
)

// record is what the driver writes into a VM directory at boot, so that
// Attach (and, later, snapshots) know the VM's identity and how it was
// launched.
type record struct {
	ID              string `json:"id"`
	ConsoleLogBytes int64  `json:"console_log_bytes"`
	Launch          launch `json:"launch"`
	// Config is the configuration QEMU runs with; its disks are the
	// active images (a snapshot moves a VM onto new overlays). Absent in
	// records of older drivers, whose VMs cannot be snapshotted.
	Config *hypervisor.Config `json:"config,omitempty"`
	// RAM is how guest RAM is backed: ramShared (Config.MemoryFile,
	// share=on), ramPrivate (a snapshot's memory file mapped
	// copy-on-write), ramAnon (memory-backend-ram "mem") or "" (-m alone).
	RAM string `json:"ram,omitempty"`
	// Snapshots counts the snapshots taken, to name new disk overlays.
	Snapshots int `json:"snapshots,omitempty"`
	// Overlays are the disk images the driver made in the VM directory
	// (by a restore or a snapshot), which a later snapshot may take over.
	Overlays []string `json:"overlays,omitempty"`
}

// The ways guest RAM is backed, as record.RAM.
const (
	ramShared  = "shared"
	ramPrivate = "private"
	ramAnon    = "anon"
)

func writeRecord(dir string, r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, launchFile), b, 0o600)
}

func readRecord(dir string) (record, error) {
	var r record
	b, err := os.ReadFile(filepath.Join(dir, launchFile))
	if err != nil {
		return r, errdefs.NotFound("no qemu vm in %s: %v", dir, err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, errdefs.NotFound("no qemu vm in %s: %s is damaged: %v", dir, launchFile, err)
	}
	return r, nil
}

// Boot starts QEMU for cfg, detached in its own session so that it
// outlives this process, and returns once QMP answers and the guest runs.
// On error it kills QEMU and removes cfg.Dir.
func (d *Driver) Boot(ctx context.Context, cfg hypervisor.Config) (_ hypervisor.VM, err error) {
	if cfg.Net.Mode == "" {
		cfg.Net.Mode = hypervisor.NetNone
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Initramfs); cfg.Initramfs != "" && err != nil {
		return nil, errdefs.Invalid("initramfs %s: %v", cfg.Initramfs, err)
	}
	dec, err := d.accelFor(ctx, cfg.Kernel)
	if err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, err)
	}
	if dec.Accel == AccelTCG {
		noHugePages()
	}
	l := launch{Accel: dec.Accel, Machine: machineMicroVM, TSCKHz: d.tscKHz}
	if d.tscKHz == 0 {
		l.Machine = machineQ35
	}
	if d.vsock {
		l.VsockCID = vsockCID(cfg.ID)
	}

	if pid, err := readPID(filepath.Join(cfg.Dir, pidFile)); err == nil && isQEMUFor(pid, cfg.Dir) {
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
	// Leftovers of an earlier VM in the same directory would confuse
	// QEMU (sockets) and Attach (pid file).
	for _, f := range []string{qmpSocket, agentSocket, consoleSocket, pidFile, consoleLog} {
		os.Remove(filepath.Join(cfg.Dir, f))
	}
	limit := cfg.ConsoleLogBytes
	if limit <= 0 {
		limit = defaultConsoleLogBytes
	}
	rec := record{ID: cfg.ID, ConsoleLogBytes: limit, Launch: l, Config: &cfg}
	if cfg.MemoryFile != "" {
		rec.RAM = ramShared
	}
	if err := writeRecord(cfg.Dir, rec); err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, err)
	}

	vm, err := d.start(ctx, cfg, rec, buildArgs(cfg, l))
	if err != nil {
		return nil, fmt.Errorf("booting %s: %w", cfg.ID, err)
	}
	defer func() {
		if err != nil {
			vm.kill()
			vm.Close()
		}
	}()
	// QEMU started paused (-S) so the console was connected before the
	// guest's first instruction; let it run.
	if err := vm.qmp.Execute(ctx, "cont", nil, nil); err != nil {
		return nil, fmt.Errorf("booting %s: starting the guest: %w", cfg.ID, err)
	}
	d.log.Info("vm booted", "vm", cfg.ID, "pid", vm.PID(), "accel", l.Accel, "machine", l.Machine)
	return vm, nil
}

// start runs QEMU with args, detached in its own session, and returns once
// QMP and the console are connected. On error QEMU is killed; the caller
// removes the directory.
func (d *Driver) start(ctx context.Context, cfg hypervisor.Config, rec record, args []string) (_ *VM, err error) {
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, qemuLog), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	qmpl, err := listenQMP(filepath.Join(cfg.Dir, qmpSocket))
	if err != nil {
		logf.Close()
		return nil, err
	}
	// Not exec.CommandContext: the VMM's life is not the request's.
	cmd := exec.Command(d.qemu, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{qmpl} // qmpListenerFD
	cmd.Dir = cfg.Dir
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true}
	err = cmd.Start()
	logf.Close()
	// QEMU holds the listener now; with the driver's copy closed, a QEMU
	// that exits resets the connection waiting for its greeting.
	qmpl.Close()
	if err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	pid := cmd.Process.Pid
	// The driver reaps the child itself (process.reap) once its pidfd
	// says it exited, the same way for children and adopted VMs.
	p, perr := openProcess(pid)
	cmd.Process.Release()
	if perr != nil {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		return nil, fmt.Errorf("starting qemu: %w", perr)
	}
	vm := newVM(d, cfg.Dir, rec, p)
	defer func() {
		if err != nil {
			vm.kill()
			vm.Close()
		}
	}()
	if err := vm.connect(ctx); err != nil {
		// QEMU may have created its sockets and then failed on a later
		// option (a missing disk): say what QEMU said.
		if vm.proc.exited(time.Second) {
			return nil, vm.exitError()
		}
		return nil, err
	}
	return vm, nil
}

// listenQMP makes the socket QEMU serves QMP on (at path, where Attach
// finds it again) and returns it as a file to hand to QEMU. The driver
// can then connect at once, before QEMU is up: the connection waits in
// the socket's queue and QEMU's greeting says it is ready, with no
// polling for a socket file to appear.
// Callers clear the VM directory's sockets first (prepareVMDir, Boot).
func listenQMP(path string) (*os.File, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("qmp socket: %w", err)
	}
	// The path outlives the driver's copy: QEMU listens on it.
	l.SetUnlinkOnClose(false)
	defer l.Close()
	f, err := l.File()
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("qmp socket: %w", err)
	}
	return f, nil
}

func (vm *VM) exitError() error {
	return errdefs.Unavailable("qemu exited at start: %s", tail(filepath.Join(vm.dir, qemuLog), 2048))
}

// tail returns the last n bytes of a file, trimmed, for error messages.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || len(b) == 0 {
		return "(no output)"
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}

// vsockCID derives a guest CID from the VM id (3 and up; 0-2 are
// reserved). A collision makes QEMU fail at start, and Boot returns that.
func vsockCID(id string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return 3 + h%(1<<30)
}
