// Package qemu is the hypervisor.Driver for QEMU: microVMs (-M microvm,
// or q35 where the host's TSC rate is unknown) under KVM where a guest
// actually boots on it and TCG otherwise, controlled over QMP, with the
// agent channel on vhost-vsock or a yamux-multiplexed virtio-serial port.
//
// Every VMM runs detached in its own session and is found again from the
// files in its directory, so it outlives the daemon that started it.
package qemu

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
	"sync"
	"time"

	"github.com/volant-sh/volant/internal/filehash"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

var (
	_ hypervisor.Driver = (*Driver)(nil)
	_ hypervisor.VM     = (*VM)(nil)
	_ hypervisor.Pauser = (*VM)(nil)
)

// Options configures a Driver. The zero value is usable except for StateDir.
type Options struct {
	// StateDir holds the driver's own files (the accelerator probe cache).
	StateDir string
	// QEMUPath is qemu-system-x86_64; empty means look it up in PATH.
	QEMUPath string
	// QEMUImgPath is qemu-img; empty means look it up in PATH. It is
	// optional until snapshots need it.
	QEMUImgPath string
	// Accel is "auto" (the default: KVM where a guest boots on it, else
	// TCG), "kvm" or "tcg".
	Accel string
	// Logger receives the driver's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	switch o.Accel {
	case "", AccelAuto, AccelKVM, AccelTCG:
	default:
		return errdefs.Invalid("qemu accel %q: use auto, kvm or tcg", o.Accel)
	}
	if o.StateDir == "" || !filepath.IsAbs(o.StateDir) {
		return errdefs.Invalid("qemu state dir %q: must be an absolute path", o.StateDir)
	}
	return nil
}

// Driver boots QEMU VMs and finds running ones again.
type Driver struct {
	opts    Options
	log     *slog.Logger
	qemu    string
	qemuImg string
	version string
	tscKHz  int
	vsock   bool
	cache   *accelCache

	mu       sync.Mutex
	decided  map[string]accelDecision // by guest kernel path, size and mtime
	lastDecn accelDecision
}

// New checks the host (QEMU binary and version, TSC rate, vsock) and
// returns a driver. It does not probe KVM; that happens once per guest
// kernel, at its first boot or through ProbeAccel, and is cached.
func New(opts Options) (*Driver, error) {
	if opts.Accel == "" {
		opts.Accel = AccelAuto
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	qemu := opts.QEMUPath
	if qemu == "" {
		qemu = "qemu-system-x86_64"
	}
	qemu, err := exec.LookPath(qemu)
	if err != nil {
		return nil, errdefs.Unavailable("qemu: %v; install qemu-system-x86 or set the QEMU path", err)
	}
	qemuImg := opts.QEMUImgPath
	if qemuImg == "" {
		qemuImg = "qemu-img"
	}
	if p, err := exec.LookPath(qemuImg); err == nil {
		qemuImg = p
	} else {
		qemuImg = ""
	}
	out, err := exec.Command(qemu, "--version").Output()
	if err != nil {
		return nil, errdefs.Unavailable("qemu: running %s --version: %v", qemu, err)
	}
	version, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating qemu state dir: %w", err)
	}
	d := &Driver{
		opts:    opts,
		log:     log.With("driver", "qemu"),
		qemu:    qemu,
		qemuImg: qemuImg,
		version: version,
		tscKHz:  hostTSCKHz(),
		cache:   &accelCache{path: cachePath(opts.StateDir)},
		decided: map[string]accelDecision{},
	}
	if _, err := os.Stat("/dev/vhost-vsock"); err == nil {
		d.vsock = true
	}
	if d.tscKHz == 0 {
		d.log.Info("host TSC rate unknown; using -M q35 (its HPET calibrates the TSC) instead of microvm")
	}
	return d, nil
}

// Name is "qemu".
func (d *Driver) Name() string { return "qemu" }

// Capabilities says what the driver can do here. Accel is the most recent
// decision (from a boot or ProbeAccel); before any, an explicit choice, or
// "tcg" with a reason saying KVM is probed at the first boot.
func (d *Driver) Capabilities() hypervisor.Capabilities {
	d.mu.Lock()
	dec := d.lastDecn
	d.mu.Unlock()
	if dec.Accel == "" {
		dec = decideAccel(d.opts.Accel, true, "", func() accelDecision {
			if ok, why := kvmUsable(); !ok {
				return accelDecision{Accel: AccelTCG, Reason: why}
			}
			return accelDecision{Accel: AccelTCG, Reason: "kvm not yet probed: decided per guest kernel at its first boot"}
		})
	}
	return hypervisor.Capabilities{
		Accel:       dec.Accel,
		AccelReason: dec.Reason,
		Vsock:       d.vsock,
		Pause:       true,
		Snapshot:    true,
		Restore:     true,
		TapNet:      true,
		UserNet:     true,
		UserNetAddr: userNetAddr,
		MemoryFile:  true,
		DiskFormats: []string{"qcow2", "raw"},
	}
}

// ProbeAccel decides the accelerator for guests of this kernel: the Accel
// option, else a cached probe result, else a probe (a short boot under KVM,
// up to 8 s). It returns "kvm" or "tcg" and why.
func (d *Driver) ProbeAccel(ctx context.Context, kernel string) (accel, reason string, err error) {
	dec, err := d.accelFor(ctx, kernel)
	return dec.Accel, dec.Reason, err
}

func (d *Driver) accelFor(ctx context.Context, kernel string) (accelDecision, error) {
	st, err := os.Stat(kernel)
	if err != nil {
		return accelDecision{}, errdefs.Invalid("kernel %s: %v", kernel, err)
	}
	memo := fmt.Sprintf("%s|%d|%d", kernel, st.Size(), st.ModTime().UnixNano())
	d.mu.Lock()
	dec, ok := d.decided[memo]
	d.mu.Unlock()
	if ok {
		return dec, nil
	}
	kvmOK, kvmWhy := kvmUsable()
	var probeErr error
	dec = decideAccel(d.opts.Accel, kvmOK, kvmWhy, func() accelDecision {
		sum, err := filehash.SHA256(kernel)
		if err != nil {
			probeErr = fmt.Errorf("hashing kernel %s: %w", kernel, err)
			return accelDecision{}
		}
		key := probeKey(d.version, hostKernel(), sum)
		if c, ok := d.cache.get(key); ok {
			c.Reason += " (cached)"
			return c
		}
		c := probeKVM(ctx, d.qemu, kernel, d.tscKHz)
		c.At = time.Now()
		if ctx.Err() != nil {
			probeErr = fmt.Errorf("probing kvm: %w", ctx.Err())
			return accelDecision{}
		}
		if err := d.cache.put(key, c); err != nil {
			d.log.Warn("cannot cache the kvm probe result", "err", err)
		}
		return c
	})
	if probeErr != nil {
		return accelDecision{}, probeErr
	}
	d.log.Info("accelerator chosen", "accel", dec.Accel, "reason", dec.Reason, "kernel", kernel)
	d.mu.Lock()
	d.decided[memo] = dec
	d.lastDecn = dec
	d.mu.Unlock()
	return dec, nil
}

// Attach finds the VM whose directory is dir again: its pid file names a
// live QEMU whose command line mentions dir. It connects QMP and the
// console. A VM that is not there is an errdefs.ErrNotFound.
func (d *Driver) Attach(ctx context.Context, dir string) (hypervisor.VM, error) {
	pid, err := readPID(filepath.Join(dir, pidFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound("no qemu vm in %s (no pid file)", dir)
	}
	if err != nil {
		return nil, errdefs.NotFound("no qemu vm in %s: %v", dir, err)
	}
	p, err := openProcess(pid)
	if err != nil {
		return nil, errdefs.NotFound("no qemu vm in %s: process %d is gone", dir, pid)
	}
	// Check the command line after opening the pidfd, then that the pidfd's
	// process still lives: so the pid was not recycled in between.
	if !isQEMUFor(pid, dir) || p.exited(0) {
		p.close()
		return nil, errdefs.NotFound("no qemu vm in %s: process %d is not its qemu", dir, pid)
	}
	rec, err := readRecord(dir)
	if err != nil {
		p.close()
		return nil, err
	}
	vm := newVM(d, dir, rec, p)
	if err := vm.connect(ctx); err != nil {
		vm.Close()
		return nil, fmt.Errorf("attaching to vm in %s: %w", dir, err)
	}
	d.log.Info("attached to vm", "vm", vm.id, "pid", pid, "accel", rec.Launch.Accel)
	return vm, nil
}

// Version is the QEMU version snapshots record (the first line of
// qemu-system-x86_64 --version).
func (d *Driver) Version() string { return d.version }
