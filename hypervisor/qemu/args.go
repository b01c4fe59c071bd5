package qemu

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strings"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
)

// Names of the files the driver keeps in a VM's directory.
const (
	qmpSocket     = "qmp.sock"
	agentSocket   = "agent.sock"
	consoleSocket = "console.sock"
	pidFile       = "qemu.pid"
	qemuLog       = "qemu.log"    // QEMU's own stdout and stderr
	consoleLog    = "console.log" // the bounded tail of the serial console
	launchFile    = "launch.json" // the launch decisions, for Attach and snapshots
)

// qmpListenerFD is the descriptor QEMU finds its QMP socket on: the first
// of exec.Cmd.ExtraFiles (start).
const qmpListenerFD = 3

// Machine types.
const (
	machineMicroVM = "microvm"
	machineQ35     = "q35"
)

// launch holds what buildArgs needs beyond the Config: decisions made per
// host (accelerator, machine type, agent transport). It is written to the
// VM directory so a later Attach (or snapshot) knows how the VM was built.
type launch struct {
	// Accel is "kvm" or "tcg".
	Accel string `json:"accel"`
	// Machine is "microvm", or "q35" when the host's TSC rate is unknown.
	Machine string `json:"machine"`
	// TSCKHz is passed as tsc_early_khz on microvm; 0 means unknown.
	TSCKHz int `json:"tsc_khz,omitempty"`
	// VsockCID, when not 0, makes the agent channel a vhost-vsock device
	// with this guest CID instead of a virtio-serial port.
	VsockCID uint32 `json:"vsock_cid,omitempty"`
}

// device returns the name of a virtio device on the launch's machine: the
// MMIO variant on microvm, the PCI one on q35.
func (l launch) device(kind string) string {
	if l.Machine == machineMicroVM {
		return "virtio-" + kind + "-device"
	}
	return "virtio-" + kind + "-pci"
}

// buildArgs returns QEMU's arguments (without the program name) for cfg.
// QEMU starts paused (-S) so that the driver can attach the console before
// the guest prints anything; the driver then sends "cont".
func buildArgs(cfg hypervisor.Config, l launch) []string {
	ram := ramSpec{}
	if cfg.MemoryFile != "" {
		ram = ramSpec{Backend: "memory-backend-file", Path: cfg.MemoryFile, Shared: true}
	}
	return buildArgsWith(cfg, l, ram, false)
}

// ramSpec says how guest RAM is backed. The zero value is QEMU's default
// (-m alone). Any backend is the object "mem", so its RAM block is named
// "mem" wherever it runs: a migration stream matches blocks by name.
type ramSpec struct {
	// Backend is "", "memory-backend-ram" or "memory-backend-file".
	Backend string
	// Path is the file of a memory-backend-file.
	Path string
	// Shared maps the file shared (share=on): guest writes reach it.
	// Otherwise it is mapped privately, copy-on-write.
	Shared bool
}

// buildRestoreArgs returns QEMU's arguments to restore a snapshot: the
// same machine and devices as buildArgs, RAM as ram, and "-incoming
// defer" so that the driver starts the incoming migration over QMP once
// its capabilities are set.
func buildRestoreArgs(cfg hypervisor.Config, l launch, ram ramSpec) []string {
	return buildArgsWith(cfg, l, ram, true)
}

func buildArgsWith(cfg hypervisor.Config, l launch, ram ramSpec, incoming bool) []string {
	dir := cfg.Dir
	path := func(name string) string { return filepath.Join(dir, name) }
	var a []string
	add := func(args ...string) { a = append(a, args...) }

	machine := l.Machine + ",accel=" + l.Accel
	if l.Machine == machineMicroVM {
		// ACPI finds the virtio-mmio devices (Debian's kernel lacks
		// VIRTIO_MMIO_CMDLINE_DEVICES); the legacy PIT and PIC are not
		// needed with an IOAPIC and a known TSC rate; the RTC gives the
		// guest wall-clock time and the ISA serial port its console.
		machine += ",acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off"
	}
	if ram.Backend != "" {
		machine += ",memory-backend=mem"
	}
	// Under TCG, without ERMS: QEMU 7.2 runs a rep movsb or rep stosb one
	// byte per pass through its translated block, and with ERMS the guest
	// kernel copies and clears pages and user buffers that way; without,
	// it uses rep movsq and stosq, 8 bytes a pass
	// (BenchmarkFileWriteRead10MiB: ~520 → ~300 ms). A guest restored
	// from an older snapshot keeps the copy routines it chose at boot,
	// which still work.
	cpu := "max,erms=off"
	if l.Accel == "kvm" {
		cpu = "host"
	}
	add("-name", "guest="+cfg.ID+",debug-threads=on",
		"-machine", machine,
		"-cpu", cpu,
		"-smp", fmt.Sprint(cfg.VCPUs),
		"-m", fmt.Sprintf("%dM", cfg.MemoryMiB))
	switch ram.Backend {
	case "memory-backend-file":
		share := "off"
		if ram.Shared {
			share = "on"
		}
		add("-object", fmt.Sprintf("memory-backend-file,id=mem,size=%dM,mem-path=%s,share=%s",
			cfg.MemoryMiB, qemuOpt(ram.Path), share))
	case "memory-backend-ram":
		add("-object", fmt.Sprintf("memory-backend-ram,id=mem,size=%dM", cfg.MemoryMiB))
	}
	add("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
		"-kernel", cfg.Kernel)
	if cfg.Initramfs != "" {
		add("-initrd", cfg.Initramfs)
	}
	add("-append", buildCmdline(cfg, l))

	add("-chardev", "socket,id=console,path="+qemuOpt(path(consoleSocket))+",server=on,wait=off",
		"-serial", "chardev:console")
	if l.VsockCID != 0 {
		add("-device", fmt.Sprintf("vhost-vsock-%s,guest-cid=%d", busSuffix(l), l.VsockCID))
	} else {
		add("-device", l.device("serial")+",id=vser0",
			"-chardev", "socket,id=agent,path="+qemuOpt(path(agentSocket))+",server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name="+client.SerialPortName)
	}
	add("-device", l.device("rng"))

	for i, d := range cfg.Disks {
		// Writeback cache with thread-pool AIO works on every host file
		// system (O_DIRECT fails on tmpfs); QEMU flushes it before a
		// migration or snapshot. Discards reach the image file.
		drive := fmt.Sprintf("file=%s,format=%s,if=none,id=disk%d,cache=writeback,aio=threads",
			qemuOpt(d.Path), d.Format, i)
		if d.ReadOnly {
			drive += ",readonly=on"
		} else {
			drive += ",discard=unmap,detect-zeroes=unmap"
		}
		dev := fmt.Sprintf("%s,drive=disk%d", l.device("blk"), i)
		if d.Serial != "" {
			// The guest finds the disk by its serial (/sys/block/vdX/serial),
			// whatever its order.
			dev += ",serial=" + d.Serial
		}
		add("-drive", drive, "-device", dev)
	}

	switch cfg.Net.Mode {
	case hypervisor.NetUser:
		add("-netdev", "user,id=net0")
	case hypervisor.NetTap:
		add("-netdev", "tap,id=net0,ifname="+cfg.Net.Tap+",script=no,downscript=no")
	}
	if cfg.Net.Mode == hypervisor.NetUser || cfg.Net.Mode == hypervisor.NetTap {
		add("-device", l.device("net")+",netdev=net0,mac="+macFor(cfg))
	}

	// QMP listens on a socket the driver made (qmpListenerFD): the
	// driver connects at once, and QEMU's greeting is the signal it is up.
	add("-chardev", fmt.Sprintf("socket,id=qmp,fd=%d,server=on,wait=off", qmpListenerFD),
		"-mon", "chardev=qmp,mode=control",
		"-pidfile", path(pidFile))
	if incoming {
		add("-incoming", "defer")
	}
	return a
}

func busSuffix(l launch) string {
	if l.Machine == machineMicroVM {
		return "device"
	}
	return "pci"
}

// qemuOpt escapes a value for QEMU's comma-separated option syntax.
func qemuOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// macFor returns cfg's MAC, or a locally administered one derived from the
// VM id so that the same VM keeps its address across reboots.
func macFor(cfg hypervisor.Config) string {
	if cfg.Net.MAC != "" {
		return cfg.Net.MAC
	}
	h := fnv.New32a()
	h.Write([]byte(cfg.ID))
	s := h.Sum32()
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte(s>>16), byte(s>>8), byte(s))
}

// buildCmdline returns the guest kernel command line: the driver's
// arguments first, then cfg.Cmdline, so the caller's win where the kernel
// takes the last value.
func buildCmdline(cfg hypervisor.Config, l launch) string {
	args := []string{
		"console=" + client.ConsoleDevice,
		"reboot=t",   // reboot by triple fault, which -no-reboot turns into an exit
		"panic=-1",   // and a panic reboots at once
		"rodata=off", // no read-only remapping of kernel data (~0.2 s under TCG)
		// The clocksource watchdog otherwise marks the TSC unstable on a
		// busy host (vCPUs descheduled under TCG) and falls back to
		// jiffies, and guest time then runs slower than wall time.
		"tsc=reliable",
	}
	args = append(args, hypervisor.GuestKernelArgs...)
	if l.Accel == AccelTCG {
		// The kernel hands a parameter it does not know to init's
		// environment: kestrel (PID 1, a Go program) runs without async
		// preemption. Under TCG its goroutines easily run the 10 ms that
		// make the Go runtime signal them, and a restored guest's first
		// requests then also ran the signal's delivery, handler and return
		// (~400 translated blocks, ~2.5 % of a create's); kestrel has no
		// loops that need it. Its children get an environment of their own
		// (kestrel/proc), not this one.
		args = append(args, "GODEBUG=asyncpreemptoff=1")
	}
	if l.Machine == machineMicroVM && l.TSCKHz > 0 {
		// Without a PIT the kernel must be told the TSC rate, or it may
		// hang calibrating it.
		args = append(args, fmt.Sprintf("tsc_early_khz=%d", l.TSCKHz))
	}
	if cfg.Cmdline != "" {
		args = append(args, cfg.Cmdline)
	}
	return strings.Join(args, " ")
}
