package netcfg

import "os"

// HostnameFile is where programs read the machine's name, and
// KernelHostname the kernel's own, which Volant's guests (the image, an
// image root) link it to.
const (
	HostnameFile   = "/etc/hostname"
	KernelHostname = "/proc/sys/kernel/hostname"
)

// LinksToKernelHostname reports whether path is a link to KernelHostname.
func LinksToKernelHostname(path string) bool {
	target, err := os.Readlink(path)
	return err == nil && target == KernelHostname
}

// writeHostnameFile writes name to path unless path links to the kernel's
// name, which already is name: under TCG the open, truncate, write and
// close on tmpfs ran, on a cold translation cache, in every restore's
// reconfigure.
func writeHostnameFile(path, name string) {
	if LinksToKernelHostname(path) {
		return
	}
	_ = os.WriteFile(path, []byte(name+"\n"), 0o644)
}
