package hypervisor

import (
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/volant-sh/volant/errdefs"
)

// Config is everything a driver needs to boot one VM.
type Config struct {
	// ID names the VM; letters, digits, '-' and '_', at most 64.
	ID string `json:"id"`
	// Dir is the VM's runtime directory; the driver creates it and owns
	// everything in it (pid file, API socket, agent socket, console log).
	Dir string `json:"dir"`
	// VCPUs and MemoryMiB size the guest.
	VCPUs     int `json:"vcpus"`
	MemoryMiB int `json:"memory_mib"`
	// Kernel is an uncompressed vmlinux (PVH entry) or a bzImage.
	Kernel string `json:"kernel"`
	// Initramfs is the initramfs image; kestrel is its /init.
	Initramfs string `json:"initramfs"`
	// Cmdline holds extra kernel arguments; drivers add the ones they need.
	Cmdline string `json:"cmdline,omitempty"`
	// Disks are attached in order as virtio block devices (vda, vdb, ...).
	Disks []Disk `json:"disks,omitempty"`
	// Net is the guest's network interface.
	Net Net `json:"net"`
	// MemoryFile, when set, backs guest RAM with this file (shared), so a
	// snapshot can keep it and restores can map it copy-on-write.
	MemoryFile string `json:"memory_file,omitempty"`
	// ConsoleLogBytes bounds the console log file; 0 means 1 MiB.
	ConsoleLogBytes int64 `json:"console_log_bytes,omitempty"`
}

// Disk is a virtio block device.
type Disk struct {
	Path   string `json:"path"`
	Format string `json:"format"` // "raw" or "qcow2"
	// ReadOnly disks are never written, and a snapshot neither freezes
	// nor copies them: every VM of one image shares its file.
	ReadOnly bool `json:"read_only,omitempty"`
	// Serial, when set, is the device's serial number (at most 20
	// letters, digits, '-' or '_'), by which the guest finds the disk
	// whatever its order.
	Serial string `json:"serial,omitempty"`
}

// NetMode is how the guest's interface reaches the world.
type NetMode string

// The network modes.
const (
	NetNone NetMode = "none"
	NetUser NetMode = "user" // the VMM's user-mode stack; needs no root
	NetTap  NetMode = "tap"  // a tap device on a bridge, set up by the caller
)

// Net configures the guest's one network interface.
type Net struct {
	Mode NetMode `json:"mode"`
	// Tap is the tap device's name when Mode is NetTap.
	Tap string `json:"tap,omitempty"`
	// MAC is the interface's address, "02:76:6c:xx:xx:xx" (see MACPrefix);
	// empty means the driver picks.
	MAC string `json:"mac,omitempty"`
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	serialPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,20}$`)
)

// Validate reports what is wrong with c, as an errdefs.ErrInvalidArgument.
func (c Config) Validate() error {
	switch {
	case !idPattern.MatchString(c.ID):
		return errdefs.Invalid("vm id %q: use 1-64 letters, digits, '-' or '_'", c.ID)
	case c.Dir == "" || !filepath.IsAbs(c.Dir):
		return errdefs.Invalid("vm dir %q: must be an absolute path", c.Dir)
	case c.VCPUs < 1 || c.VCPUs > 64:
		return errdefs.Invalid("vcpus %d: must be between 1 and 64", c.VCPUs)
	case c.MemoryMiB < 64 || c.MemoryMiB > 256*1024:
		return errdefs.Invalid("memory %d MiB: must be between 64 and 262144", c.MemoryMiB)
	case c.Kernel == "":
		return errdefs.Invalid("kernel: a path is required")
	}
	switch c.Net.Mode {
	case NetNone, NetUser, "":
	case NetTap:
		if c.Net.Tap == "" {
			return errdefs.Invalid("net: mode tap needs a tap device name")
		}
	default:
		return errdefs.Invalid("net mode %q: use none, user or tap", c.Net.Mode)
	}
	for i, d := range c.Disks {
		if d.Format != "raw" && d.Format != "qcow2" {
			return errdefs.Invalid("disk %d format %q: use raw or qcow2", i, d.Format)
		}
		if !filepath.IsAbs(d.Path) {
			return errdefs.Invalid("disk %d path %q: must be absolute", i, d.Path)
		}
		if d.Serial != "" && !serialPattern.MatchString(d.Serial) {
			return errdefs.Invalid("disk %d serial %q: use 1-20 letters, digits, '-' or '_'", i, d.Serial)
		}
	}
	return nil
}

// String is for logs.
func (c Config) String() string {
	return fmt.Sprintf("vm %s (%d vcpu, %d MiB, net %s)", c.ID, c.VCPUs, c.MemoryMiB, c.Net.Mode)
}
