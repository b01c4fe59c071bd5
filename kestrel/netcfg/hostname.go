package netcfg

import "os"

// HostnameFile is where programs read the machine's name, and
// KernelHostname the kernel's own, which Volant's guests (the image, an
// image root) link it to.
const (
	HostnameFile   = "/etc/hostname"
	KernelHostname = "/proc/sys/kernel/hostname"
)

// writeHostnameFile writes name to path unless path links to the kernel's
// name, which already is name. Under TCG the write (open, truncate, write,
// close on tmpfs) was a fifth of the blocks a restore translated before
// its identity was set.
func writeHostnameFile(path, name string) {
	if target, err := os.Readlink(path); err == nil && target == KernelHostname {
		return
	}
	_ = os.WriteFile(path, []byte(name+"\n"), 0o644)
}
