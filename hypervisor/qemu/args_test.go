package qemu

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
)

func TestBuildArgs(t *testing.T) {
	base := hypervisor.Config{
		ID: "sb-1", Dir: "/run/volant/vms/sb-1", VCPUs: 2, MemoryMiB: 512,
		Kernel: "/img/vmlinux", Initramfs: "/img/initramfs.cpio",
	}
	tests := []struct {
		name   string
		mutate func(*hypervisor.Config)
		launch launch
		want   []string
	}{{
		name:   "microvm tcg user net",
		mutate: func(c *hypervisor.Config) { c.Net = hypervisor.Net{Mode: hypervisor.NetUser} },
		launch: launch{Accel: "tcg", Machine: machineMicroVM, TSCKHz: 2299998},
		want: []string{
			"-name", "guest=sb-1,debug-threads=on",
			"-machine", "microvm,accel=tcg,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off",
			"-cpu", "max,erms=off", "-smp", "2", "-m", "512M",
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
			"-kernel", "/img/vmlinux", "-initrd", "/img/initramfs.cpio",
			"-append", "console=ttyS0 reboot=t panic=-1 rodata=off tsc=reliable cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf GODEBUG=asyncpreemptoff=1 tsc_early_khz=2299998",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "virtio-serial-device,id=vser0",
			"-chardev", "socket,id=agent,path=/run/volant/vms/sb-1/agent.sock,server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name=org.volant.agent.0",
			"-device", "virtio-rng-device",
			"-netdev", "user,id=net0",
			"-device", "virtio-net-device,netdev=net0,mac=52:54:00:84:b5:b2",
			"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
			"-pidfile", "/run/volant/vms/sb-1/qemu.pid",
		},
	}, {
		name: "q35 kvm tap disks memory file vsock",
		mutate: func(c *hypervisor.Config) {
			c.Cmdline = "kestrel.debug=1"
			c.MemoryFile = "/snap/mem,1"
			c.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: "vt0", MAC: "52:54:00:00:00:01"}
			c.Disks = []hypervisor.Disk{
				{Path: "/img/rootfs.raw", Format: "raw", ReadOnly: true, Serial: "volant-root"},
				{Path: "/run/volant/vms/sb-1/overlay.qcow2", Format: "qcow2"},
			}
		},
		launch: launch{Accel: "kvm", Machine: machineQ35, TSCKHz: 2299998, VsockCID: 7},
		want: []string{
			"-name", "guest=sb-1,debug-threads=on",
			"-machine", "q35,accel=kvm,memory-backend=mem",
			"-cpu", "host", "-smp", "2", "-m", "512M",
			"-object", "memory-backend-file,id=mem,size=512M,mem-path=/snap/mem,,1,share=on",
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
			"-kernel", "/img/vmlinux", "-initrd", "/img/initramfs.cpio",
			"-append", "console=ttyS0 reboot=t panic=-1 rodata=off tsc=reliable cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf kestrel.debug=1",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "vhost-vsock-pci,guest-cid=7",
			"-device", "virtio-rng-pci",
			"-drive", "file=/img/rootfs.raw,format=raw,if=none,id=disk0,cache=writeback,aio=threads,readonly=on",
			"-device", "virtio-blk-pci,drive=disk0,serial=volant-root",
			"-drive", "file=/run/volant/vms/sb-1/overlay.qcow2,format=qcow2,if=none,id=disk1,cache=writeback,aio=threads,discard=unmap,detect-zeroes=unmap",
			"-device", "virtio-blk-pci,drive=disk1",
			"-netdev", "tap,id=net0,ifname=vt0,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01",
			"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
			"-pidfile", "/run/volant/vms/sb-1/qemu.pid",
		},
	}, {
		name:   "microvm without tsc rate, no net, no initramfs",
		mutate: func(c *hypervisor.Config) { c.Initramfs = ""; c.Net = hypervisor.Net{Mode: hypervisor.NetNone} },
		launch: launch{Accel: "tcg", Machine: machineMicroVM},
		want: []string{
			"-name", "guest=sb-1,debug-threads=on",
			"-machine", "microvm,accel=tcg,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off",
			"-cpu", "max,erms=off", "-smp", "2", "-m", "512M",
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
			"-kernel", "/img/vmlinux",
			"-append", "console=ttyS0 reboot=t panic=-1 rodata=off tsc=reliable cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf GODEBUG=asyncpreemptoff=1",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "virtio-serial-device,id=vser0",
			"-chardev", "socket,id=agent,path=/run/volant/vms/sb-1/agent.sock,server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name=org.volant.agent.0",
			"-device", "virtio-rng-device",
			"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
			"-pidfile", "/run/volant/vms/sb-1/qemu.pid",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mutate(&cfg)
			if diff := cmp.Diff(tt.want, buildArgs(cfg, tt.launch)); diff != "" {
				t.Errorf("buildArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMACFor(t *testing.T) {
	a := macFor(hypervisor.Config{ID: "a"})
	if a != macFor(hypervisor.Config{ID: "a"}) || a == macFor(hypervisor.Config{ID: "b"}) {
		t.Errorf("macFor is not a stable function of the id: %s", a)
	}
	if got, want := macFor(hypervisor.Config{ID: "a", Net: hypervisor.Net{MAC: "52:54:00:aa:bb:cc"}}), "52:54:00:aa:bb:cc"; got != want {
		t.Errorf("explicit MAC: got %s, want %s", got, want)
	}
}

func TestBuildRestoreArgs(t *testing.T) {
	cfg := hypervisor.Config{
		ID: "clone-1", Dir: "/run/volant/vms/clone-1", VCPUs: 1, MemoryMiB: 256,
		Kernel: "/img/vmlinux", Initramfs: "/img/initramfs.cpio",
		Net:   hypervisor.Net{Mode: hypervisor.NetUser, MAC: "52:54:00:00:00:02"},
		Disks: []hypervisor.Disk{{Path: "/run/volant/vms/clone-1/disk0.qcow2", Format: "qcow2"}},
	}
	l := launch{Accel: "tcg", Machine: machineMicroVM, TSCKHz: 2299998}
	head := []string{
		"-name", "guest=clone-1,debug-threads=on",
		"-machine", "microvm,accel=tcg,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off,memory-backend=mem",
		"-cpu", "max,erms=off", "-smp", "1", "-m", "256M",
	}
	tailArgs := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
		"-kernel", "/img/vmlinux", "-initrd", "/img/initramfs.cpio",
		"-append", "console=ttyS0 reboot=t panic=-1 rodata=off tsc=reliable cryptomgr.notests psi=0 lsm=landlock,lockdown,yama,bpf GODEBUG=asyncpreemptoff=1 tsc_early_khz=2299998",
		"-chardev", "socket,id=console,path=/run/volant/vms/clone-1/console.sock,server=on,wait=off",
		"-serial", "chardev:console",
		"-device", "virtio-serial-device,id=vser0",
		"-chardev", "socket,id=agent,path=/run/volant/vms/clone-1/agent.sock,server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name=org.volant.agent.0",
		"-device", "virtio-rng-device",
		"-drive", "file=/run/volant/vms/clone-1/disk0.qcow2,format=qcow2,if=none,id=disk0,cache=writeback,aio=threads,discard=unmap,detect-zeroes=unmap",
		"-device", "virtio-blk-device,drive=disk0",
		"-netdev", "user,id=net0",
		"-device", "virtio-net-device,netdev=net0,mac=52:54:00:00:00:02",
		"-chardev", "socket,id=qmp,fd=3,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
		"-pidfile", "/run/volant/vms/clone-1/qemu.pid",
		"-incoming", "defer",
	}
	join := func(parts ...[]string) []string {
		var a []string
		for _, p := range parts {
			a = append(a, p...)
		}
		return a
	}
	tests := []struct {
		name string
		ram  ramSpec
		want []string
	}{{
		name: "memory file copy-on-write",
		ram:  ramSpec{Backend: "memory-backend-file", Path: "/snaps/s,1/mem"},
		want: join(head, []string{"-object", "memory-backend-file,id=mem,size=256M,mem-path=/snaps/s,,1/mem,share=off"}, tailArgs),
	}, {
		name: "stream into anonymous memory",
		ram:  ramSpec{Backend: "memory-backend-ram"},
		want: join(head, []string{"-object", "memory-backend-ram,id=mem,size=256M"}, tailArgs),
	}, {
		name: "stream into a shared memory file",
		ram:  ramSpec{Backend: "memory-backend-file", Path: "/run/volant/vms/clone-1/mem", Shared: true},
		want: join(head, []string{"-object", "memory-backend-file,id=mem,size=256M,mem-path=/run/volant/vms/clone-1/mem,share=on"}, tailArgs),
	}, {
		name: "stream into default memory",
		ram:  ramSpec{},
		want: join([]string{head[0], head[1], head[2], strings.TrimSuffix(head[3], ",memory-backend=mem")}, head[4:], tailArgs),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, buildRestoreArgs(cfg, l, tt.ram)); diff != "" {
				t.Errorf("buildRestoreArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestoreRAM(t *testing.T) {
	tests := []struct {
		name       string
		m          snapshotManifest
		memoryFile string
		want       ramSpec
		wantRec    string
	}{
		{"file", snapshotManifest{Memory: MemoryFile, RAMBackend: "mem"}, "/vm/mem", ramSpec{Backend: "memory-backend-file", Path: "/snap/mem"}, ramPrivate},
		{"stream from default ram", snapshotManifest{Memory: MemoryStream}, "/vm/mem", ramSpec{}, ""},
		{"stream into memory file", snapshotManifest{Memory: MemoryStream, RAMBackend: "mem"}, "/vm/mem", ramSpec{Backend: "memory-backend-file", Path: "/vm/mem", Shared: true}, ramShared},
		{"stream into anonymous", snapshotManifest{Memory: MemoryStream, RAMBackend: "mem"}, "", ramSpec{Backend: "memory-backend-ram"}, ramAnon},
	}
	for _, tt := range tests {
		got, rec := restoreRAM(tt.m, "/snap", tt.memoryFile)
		if got != tt.want || rec != tt.wantRec {
			t.Errorf("%s: got %+v %q, want %+v %q", tt.name, got, rec, tt.want, tt.wantRec)
		}
	}
}

func TestCheckRestorable(t *testing.T) {
	m := snapshotManifest{QEMUVersion: "QEMU 7.2", Config: hypervisor.Config{VCPUs: 1, MemoryMiB: 256,
		Net: hypervisor.Net{Mode: hypervisor.NetTap}, Disks: []hypervisor.Disk{{Path: "disk0.qcow2", Format: "qcow2"}}}}
	ok := hypervisor.Config{VCPUs: 1, MemoryMiB: 256, Net: hypervisor.Net{Mode: hypervisor.NetUser}}
	if err := checkRestorable("QEMU 7.2", false, m, ok); err != nil {
		t.Errorf("matching config (other net backend, disks from the snapshot): %v", err)
	}
	tests := []struct {
		name    string
		version string
		vsock   bool
		mutate  func(*hypervisor.Config, *snapshotManifest)
		want    string
	}{
		{"version", "QEMU 8.0", false, func(*hypervisor.Config, *snapshotManifest) {}, `this host runs "QEMU 8.0"`},
		{"vcpus", "QEMU 7.2", false, func(c *hypervisor.Config, _ *snapshotManifest) { c.VCPUs = 2 }, "vcpus 2"},
		{"memory", "QEMU 7.2", false, func(c *hypervisor.Config, _ *snapshotManifest) { c.MemoryMiB = 128 }, "memory 128 MiB"},
		{"no net", "QEMU 7.2", false, func(c *hypervisor.Config, _ *snapshotManifest) { c.Net.Mode = hypervisor.NetNone }, "net mode none"},
		{"disk count", "QEMU 7.2", false, func(c *hypervisor.Config, _ *snapshotManifest) {
			c.Disks = []hypervisor.Disk{{}, {}}
		}, "2 disks"},
		{"disk format", "QEMU 7.2", false, func(c *hypervisor.Config, _ *snapshotManifest) {
			c.Disks = []hypervisor.Disk{{Format: "raw"}}
		}, "disk 0 is raw"},
		{"vsock", "QEMU 7.2", false, func(_ *hypervisor.Config, m *snapshotManifest) { m.Launch.VsockCID = 9 }, "vhost-vsock"},
	}
	for _, tt := range tests {
		c, mm := ok, m
		tt.mutate(&c, &mm)
		err := checkRestorable(tt.version, tt.vsock, mm, c)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want ErrInvalidArgument containing %q", tt.name, err, tt.want)
		}
	}
}
