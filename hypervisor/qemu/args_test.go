package qemu

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
			"-cpu", "max", "-smp", "2", "-m", "512M",
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
			"-kernel", "/img/vmlinux", "-initrd", "/img/initramfs.cpio",
			"-append", "console=ttyS0 reboot=t panic=-1 cryptomgr.notests rodata=off tsc_early_khz=2299998",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "virtio-serial-device,id=vser0",
			"-chardev", "socket,id=agent,path=/run/volant/vms/sb-1/agent.sock,server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name=org.volant.agent.0",
			"-device", "virtio-rng-device",
			"-netdev", "user,id=net0",
			"-device", "virtio-net-device,netdev=net0,mac=52:54:00:84:b5:b2",
			"-qmp", "unix:/run/volant/vms/sb-1/qmp.sock,server=on,wait=off",
			"-pidfile", "/run/volant/vms/sb-1/qemu.pid",
		},
	}, {
		name: "q35 kvm tap disks memory file vsock",
		mutate: func(c *hypervisor.Config) {
			c.Cmdline = "kestrel.debug=1"
			c.MemoryFile = "/snap/mem,1"
			c.Net = hypervisor.Net{Mode: hypervisor.NetTap, Tap: "vt0", MAC: "52:54:00:00:00:01"}
			c.Disks = []hypervisor.Disk{
				{Path: "/img/rootfs.raw", Format: "raw", ReadOnly: true},
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
			"-append", "console=ttyS0 reboot=t panic=-1 cryptomgr.notests rodata=off kestrel.debug=1",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "vhost-vsock-pci,guest-cid=7",
			"-device", "virtio-rng-pci",
			"-drive", "file=/img/rootfs.raw,format=raw,if=none,id=disk0,cache=writeback,aio=threads,readonly=on",
			"-device", "virtio-blk-pci,drive=disk0",
			"-drive", "file=/run/volant/vms/sb-1/overlay.qcow2,format=qcow2,if=none,id=disk1,cache=writeback,aio=threads,discard=unmap,detect-zeroes=unmap",
			"-device", "virtio-blk-pci,drive=disk1",
			"-netdev", "tap,id=net0,ifname=vt0,script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01",
			"-qmp", "unix:/run/volant/vms/sb-1/qmp.sock,server=on,wait=off",
			"-pidfile", "/run/volant/vms/sb-1/qemu.pid",
		},
	}, {
		name:   "microvm without tsc rate, no net, no initramfs",
		mutate: func(c *hypervisor.Config) { c.Initramfs = ""; c.Net = hypervisor.Net{Mode: hypervisor.NetNone} },
		launch: launch{Accel: "tcg", Machine: machineMicroVM},
		want: []string{
			"-name", "guest=sb-1,debug-threads=on",
			"-machine", "microvm,accel=tcg,acpi=on,pit=off,pic=off,rtc=on,isa-serial=on,x-option-roms=off",
			"-cpu", "max", "-smp", "2", "-m", "512M",
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
			"-kernel", "/img/vmlinux",
			"-append", "console=ttyS0 reboot=t panic=-1 cryptomgr.notests rodata=off",
			"-chardev", "socket,id=console,path=/run/volant/vms/sb-1/console.sock,server=on,wait=off",
			"-serial", "chardev:console",
			"-device", "virtio-serial-device,id=vser0",
			"-chardev", "socket,id=agent,path=/run/volant/vms/sb-1/agent.sock,server=on,wait=off",
			"-device", "virtserialport,bus=vser0.0,chardev=agent,name=org.volant.agent.0",
			"-device", "virtio-rng-device",
			"-qmp", "unix:/run/volant/vms/sb-1/qmp.sock,server=on,wait=off",
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
