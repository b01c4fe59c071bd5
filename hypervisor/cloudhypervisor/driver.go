// Package cloudhypervisor is the hypervisor.Driver for Cloud Hypervisor:
// one cloud-hypervisor process per VM, started with --api-socket in the
// VM's directory and driven over its REST API (the v53 API document), with
// the agent channel on hybrid vsock and the serial console tailed into a
// bounded log. It needs a working KVM.
//
// Every VMM runs detached in its own session and is found again from the
// pid file and API socket in its directory, so it outlives the daemon.
package cloudhypervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

var (
	_ hypervisor.Driver    = (*Driver)(nil)
	_ hypervisor.Restorer  = (*Driver)(nil)
	_ hypervisor.DiskMaker = (*Driver)(nil)
	_ hypervisor.Versioner = (*Driver)(nil)
)

// Name is the driver's name.
const Name = "cloud-hypervisor"

var errNoUserNet = errdefs.Invalid("net mode user: cloud-hypervisor has no user-mode network stack; use a tap or none")

// Options configures a Driver. The zero value is usable except for StateDir.
type Options struct {
	// StateDir holds the driver's own files (the KVM probe cache).
	StateDir string
	// Binary is cloud-hypervisor; empty means look it up in PATH.
	Binary string
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	if o.StateDir == "" || !filepath.IsAbs(o.StateDir) {
		return errdefs.Invalid("cloud-hypervisor state dir %q: must be an absolute path", o.StateDir)
	}
	return nil
}

// Driver boots Cloud Hypervisor VMs and finds running ones again.
type Driver struct {
	opts    Options
	log     *slog.Logger
	bin     string
	version string
}

// New finds the binary and its version. It does not check KVM: Probe does.
func New(opts Options) (*Driver, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	bin, version, err := findBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cloud-hypervisor state dir: %w", err)
	}
	return &Driver{opts: opts, log: log.With("driver", Name), bin: bin, version: version}, nil
}

// findBinary looks the binary up and asks its version.
func findBinary(bin string) (path, version string, err error) {
	if bin == "" {
		bin = "cloud-hypervisor"
	}
	path, err = exec.LookPath(bin)
	if err != nil {
		return "", "", errdefs.Unavailable("cloud-hypervisor: %v; install it from github.com/cloud-hypervisor/cloud-hypervisor/releases or set its path", err)
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", "", errdefs.Unavailable("cloud-hypervisor: running %s --version: %v", path, err)
	}
	version, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	return path, version, nil
}

// Name is "cloud-hypervisor".
func (d *Driver) Name() string { return Name }

// Version is the first line of cloud-hypervisor --version; snapshots
// restore only into the version that wrote them.
func (d *Driver) Version() string { return d.version }

// Capabilities says what the driver can do: always KVM, hybrid vsock,
// pause, snapshot and restore, tap networking and raw data disks; no
// user-mode network and no file-backed RAM (a snapshot copies guest
// memory into memory-ranges).
func (d *Driver) Capabilities() hypervisor.Capabilities {
	return hypervisor.Capabilities{
		Accel:       "kvm",
		AccelReason: "cloud-hypervisor runs on kvm only",
		Vsock:       true,
		Pause:       true,
		Snapshot:    true,
		Restore:     true,
		TapNet:      true,
		DiskFormats: []string{"raw"},
	}
}

// Attach finds the VM whose directory is dir again: its pid file names a
// live cloud-hypervisor whose API socket is in dir and answers. A VM that
// is not there is an errdefs.ErrNotFound.
func (d *Driver) Attach(ctx context.Context, dir string) (hypervisor.VM, error) {
	pid, err := readPID(filepath.Join(dir, pidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("no cloud-hypervisor vm in %s (no pid file)", dir)
	}
	if err != nil {
		return nil, errdefs.NotFound("no cloud-hypervisor vm in %s: %v", dir, err)
	}
	p, err := openProcess(pid)
	if err != nil {
		return nil, errdefs.NotFound("no cloud-hypervisor vm in %s: process %d is gone", dir, pid)
	}
	// The command line is checked after the pidfd is open, then that the
	// process still lives: so the pid was not recycled in between.
	if !isVMMFor(pid, dir) || p.exited(0) {
		p.close()
		return nil, errdefs.NotFound("no cloud-hypervisor vm in %s: process %d is not its vmm", dir, pid)
	}
	rec, err := readRecord(dir)
	if err != nil {
		p.close()
		return nil, err
	}
	vm := newVM(d, dir, rec, p)
	if _, err := vm.api.ping(ctx); err != nil {
		vm.Close()
		return nil, fmt.Errorf("attaching to vm in %s: %w", dir, err)
	}
	vm.startConsole(ctx)
	d.log.Info("attached to vm", "vm", vm.id, "pid", pid)
	return vm, nil
}
