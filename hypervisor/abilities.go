package hypervisor

import (
	"context"
	"fmt"
	"hash/fnv"
)

// Versioner is a Driver that names the version of its VMM. Snapshots and
// template keys record it, because a snapshot restores only into the VMM
// version that wrote it.
type Versioner interface {
	Version() string
}

// DiskMaker is a Driver that makes data disks in a format its VMs take, so
// that callers never run a VMM's image tools themselves.
type DiskMaker interface {
	// CreateDisk makes an empty disk image of sizeMiB at d.Path in format
	// d.Format (one of Capabilities.DiskFormats). The file must not exist.
	CreateDisk(ctx context.Context, d Disk, sizeMiB int) error
	// FlattenDisk writes a standalone copy of src to dst.Path in format
	// dst.Format: any backing chain of src is merged. src may be the disk
	// of a paused VM. dst.Path is replaced only once the copy is complete.
	FlattenDisk(ctx context.Context, src, dst Disk) error
}

// UserNetAddr is the fixed addressing of a driver's user-mode network:
// every guest on it has the same address, because each has its own stack.
type UserNetAddr struct {
	// IP is the guest's address with its prefix, e.g. "10.0.2.15/24".
	IP string `json:"ip"`
	// Gateway is the stack's router address.
	Gateway string `json:"gateway"`
	// DNS is the stack's resolver, if it has one.
	DNS string `json:"dns,omitempty"`
}

// MACPrefix is the first three bytes of the MAC addresses Volant makes up:
// locally administered and unicast (the second-lowest bit of the first
// byte set, the lowest clear), and no vendor's OUI.
var MACPrefix = [3]byte{0x02, 0x76, 0x6c}

// StableMAC is a MAC address under MACPrefix derived from seed (a VM id,
// say), the same for the same seed.
func StableMAC(seed string) string {
	h := fnv.New32a()
	h.Write([]byte(seed))
	b := h.Sum32()
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", MACPrefix[0], MACPrefix[1], MACPrefix[2], byte(b>>16), byte(b>>8), byte(b))
}
