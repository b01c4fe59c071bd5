// Package hypervisor defines what Volant needs from a virtual machine monitor.
// Drivers (hypervisor/qemu, hypervisor/cloudhypervisor) implement these
// interfaces; they know nothing of sandboxes, plugins, SQL or HTTP handlers.
//
// Whatever differs between VMMs is the driver's to say, so that the engine
// holds no VMM's detail: Capabilities (accelerator, agent channel, user-mode
// networking and its addresses, file-backed RAM, disk formats), and the
// optional abilities found by type assertion (Pauser, Snapshotter,
// Restorer, DiskReporter, DiskMaker, Versioner).
//
// A new driver is a package hypervisor/<name> that implements Driver and
// VM (with compile-time checks), passes hypervisortest.Run in its tests,
// and is one entry in hypervisor/drivers, where drivers are made.
package hypervisor

import (
	"context"
	"net"
)

// Driver starts virtual machines and finds running ones again.
type Driver interface {
	// Name is the driver's short name, for example "qemu".
	Name() string
	// Capabilities says what this driver can do on this host.
	Capabilities() Capabilities
	// Boot starts a new VM from cfg and returns once the VMM process runs
	// (not once the guest agent answers). On error nothing is left behind.
	Boot(ctx context.Context, cfg Config) (VM, error)
	// Attach finds a VM again from its directory (pid file and API socket),
	// for example after the daemon restarted. It returns an error wrapping
	// errdefs.ErrNotFound when no live VMM belongs to dir.
	Attach(ctx context.Context, dir string) (VM, error)
}

// VM is one running virtual machine. Its lifetime is the VMM process's, not
// the caller's context: contexts passed to methods bound single calls only.
type VM interface {
	// ID is the identifier given in Config.ID.
	ID() string
	// Dir is the VM's runtime directory (sockets, pid file, console log).
	Dir() string
	// PID is the VMM process id.
	PID() int
	// State asks the VMM for the VM's run state.
	State(ctx context.Context) (State, error)
	// DialAgent opens one new connection to the guest agent over the agent
	// channel (vsock, or a multiplexed virtio-serial port). Many may be open.
	DialAgent(ctx context.Context) (net.Conn, error)
	// Shutdown asks the guest to power off and waits until the VMM exits or
	// ctx ends; then it kills the VMM. It removes the VM's runtime files.
	Shutdown(ctx context.Context) error
	// Kill ends the VMM at once and removes the VM's runtime files.
	Kill() error
	// Done is closed when the VMM process has exited, for whatever reason.
	Done() <-chan struct{}
	// ConsoleLogPath is the file that holds the tail of the serial console.
	ConsoleLogPath() string
	// Close releases host-side connections (API socket, agent channel)
	// without stopping the VM, so that another process can Attach later.
	Close() error
}

// Pauser is a VM that can be paused and resumed.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// Snapshotter is a VM that can write a snapshot of itself into dir. The VM
// is paused for the length of the call and keeps running afterwards unless
// it was paused before.
type Snapshotter interface {
	Snapshot(ctx context.Context, dir string) (SnapshotInfo, error)
}

// Restorer is a Driver that can start a VM from a snapshot directory.
// cfg gives the new VM's identity and runtime directory; devices must match
// the snapshot's (number of vCPUs, memory size, disks, whether there is a
// network interface).
//
// What belongs to the new VM and not to the snapshot, the driver re-binds:
// the network backend (a new tap name in cfg.Net.Tap, or user mode), the
// runtime files in cfg.Dir (API socket, agent channel socket, console log,
// pid file), and its own writable copies or overlays of the snapshot's
// disks. The guest keeps the MAC address it had until it is given a new one
// (the caller reconfigures it through the agent); snapshotDir is only read,
// and must outlive the VM.
//
// A restore decides the new VM's memory backing itself (a copy-on-write
// mapping of the snapshot's memory, or a copy, or pages faulted in on
// demand); callers pass no cfg.MemoryFile.
type Restorer interface {
	Restore(ctx context.Context, cfg Config, snapshotDir string) (VM, error)
}

// State is a VM's run state as its VMM reports it.
type State string

// The run states.
const (
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateStopped State = "stopped"
	StateUnknown State = "unknown"
)

// Capabilities says what a driver can do on this host.
type Capabilities struct {
	// Accel is the accelerator in use: "kvm" or "tcg".
	Accel string `json:"accel"`
	// AccelReason says why that accelerator was chosen.
	AccelReason string `json:"accel_reason,omitempty"`
	// Vsock is true when the agent channel is AF_VSOCK rather than virtio-serial.
	Vsock    bool `json:"vsock"`
	Pause    bool `json:"pause"`
	Snapshot bool `json:"snapshot"`
	Restore  bool `json:"restore"`
	TapNet   bool `json:"tap_net"`
	// UserNet is true when the VMM has a user-mode network stack
	// (NetUser); UserNetAddr is then its guests' fixed addressing.
	UserNet     bool        `json:"user_net"`
	UserNetAddr UserNetAddr `json:"user_net_addr,omitzero"`
	// MemoryFile is true when Boot backs guest RAM with Config.MemoryFile
	// (shared), so that a snapshot keeps the RAM without copying it. A
	// driver without it ignores Config.MemoryFile; callers leave it empty.
	MemoryFile bool `json:"memory_file"`
	// DiskFormats are the disk image formats the VMM takes, preferred
	// first ("qcow2", "raw"); the formats DiskMaker makes.
	DiskFormats []string `json:"disk_formats,omitempty"`
}

// SnapshotInfo describes what a Snapshotter wrote.
type SnapshotInfo struct {
	// Dir is the snapshot directory.
	Dir string `json:"dir"`
	// VMM and VMMVersion identify the writer, for compatibility checks.
	VMM        string `json:"vmm"`
	VMMVersion string `json:"vmm_version"`
	// Files lists the files written, relative to Dir.
	Files []string `json:"files"`
	// Config is the device configuration the snapshot needs on restore.
	Config Config `json:"config"`
	// Memory says how guest memory was saved, in a driver's own terms
	// (QEMU: "file", a memory file restores map copy-on-write, or
	// "stream", RAM inside the device state).
	Memory string `json:"memory,omitempty"`
}

// DiskReporter is a VM that tells which disk images it writes now: a
// snapshot moves a VM onto new overlays, and its old images become the
// snapshot's frozen bases.
type DiskReporter interface {
	ActiveDisks() []Disk
}
