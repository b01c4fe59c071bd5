// Package drivers is the one place hypervisor drivers are constructed:
// each driver is a line in the registry below, and "auto" picks the first
// whose probe passes on this host.
package drivers

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/cloudhypervisor"
	"github.com/volant-sh/volant/hypervisor/qemu"
)

// Auto picks a driver by probing the host.
const Auto = "auto"

// Options configures the driver Open makes.
type Options struct {
	// StateDir is the daemon's state dir; each driver keeps its own files
	// in a subdirectory named after it.
	StateDir string
	// Accel is QEMU's accelerator choice: auto, kvm or tcg.
	Accel string
	// Kernel is the guest kernel, for the drivers' KVM probes; empty
	// skips the probe boots.
	Kernel string
	Logger *slog.Logger
}

// entry is one driver: how to tell whether it works here, and how to
// make it.
type entry struct {
	name string
	// probe says whether auto may pick the driver, and why; nil means
	// always (the fallback).
	probe func(ctx context.Context, o Options) (bool, string)
	open  func(ctx context.Context, o Options) (hypervisor.Driver, error)
}

// registry lists the drivers in the order auto tries them.
var registry = []entry{
	{name: cloudhypervisor.Name, probe: probeCloudHypervisor, open: openCloudHypervisor},
	{name: "qemu", open: openQEMU},
}

// Names lists the drivers, as --driver takes them (and "auto").
func Names() []string {
	names := []string{Auto}
	for _, e := range registry {
		names = append(names, e.name)
	}
	return names
}

// Valid reports whether name is a driver name or "auto" ("" is auto).
func Valid(name string) error {
	if name == "" {
		return nil
	}
	for _, n := range Names() {
		if n == name {
			return nil
		}
	}
	return errdefs.Invalid("driver %q: use %s", name, strings.Join(Names(), ", "))
}

// Open makes the driver called name ("" or "auto": the first whose probe
// passes) and says why it is the one.
func Open(ctx context.Context, name string, o Options) (hypervisor.Driver, string, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if name == "" {
		name = Auto
	}
	if err := Valid(name); err != nil {
		return nil, "", err
	}
	if name != Auto {
		for _, e := range registry {
			if e.name == name {
				d, err := e.open(ctx, o)
				return d, "driver=" + name + " requested", err
			}
		}
	}
	var skipped []string
	for _, e := range registry {
		var why []string
		if e.probe != nil {
			ok, reason := e.probe(ctx, o)
			if !ok {
				skipped = append(skipped, e.name+" is not usable here ("+reason+")")
				continue
			}
			why = append(why, reason)
		}
		d, err := e.open(ctx, o)
		if err != nil {
			return nil, "", err
		}
		reason := "auto chose " + e.name + ": " + strings.Join(append(why, skipped...), "; ")
		o.Logger.Info("driver chosen", "driver", e.name, "reason", reason)
		return d, reason, nil
	}
	return nil, "", errdefs.Unavailable("no hypervisor driver works here: %s", strings.Join(skipped, "; "))
}

func probeCloudHypervisor(ctx context.Context, o Options) (bool, string) {
	r := cloudhypervisor.Probe(ctx, cloudhypervisor.Options{StateDir: filepath.Join(o.StateDir, cloudhypervisor.Name)}, o.Kernel)
	return r.OK, r.Reason
}

func openCloudHypervisor(ctx context.Context, o Options) (hypervisor.Driver, error) {
	return cloudhypervisor.New(cloudhypervisor.Options{StateDir: filepath.Join(o.StateDir, cloudhypervisor.Name), Logger: o.Logger})
}

// openQEMU makes the QEMU driver and, with a kernel, decides its
// accelerator now (a probe boot, cached) rather than at the first create.
func openQEMU(ctx context.Context, o Options) (hypervisor.Driver, error) {
	d, err := qemu.New(qemu.Options{StateDir: filepath.Join(o.StateDir, "qemu"), Accel: o.Accel, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	if o.Kernel != "" {
		accel, reason, err := d.ProbeAccel(ctx, o.Kernel)
		if err != nil {
			return nil, fmt.Errorf("choosing the accelerator: %w", err)
		}
		o.Logger.Info("accelerator chosen", "accel", accel, "reason", reason)
	}
	return d, nil
}
