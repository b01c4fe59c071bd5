package qemu

import "github.com/volant-sh/volant/hypervisor"

var _ hypervisor.DiskReporter = (*VM)(nil)

// ActiveDisks returns the disk images the VM writes now (after a snapshot,
// the overlays in its directory).
func (vm *VM) ActiveDisks() []hypervisor.Disk {
	vm.snapMu.Lock()
	defer vm.snapMu.Unlock()
	if vm.rec.Config == nil {
		return nil
	}
	return append([]hypervisor.Disk(nil), vm.rec.Config.Disks...)
}
