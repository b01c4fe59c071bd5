package ipam

import (
	"net"
	"net/netip"
)

// MAC returns the MAC address for a guest at addr: the locally administered
// QEMU/KVM prefix 52:54:00 followed by the last three bytes of the IPv4
// address, so it is unique within any subnet up to a /8 and the same after a
// restart or a restore.
func MAC(addr netip.Addr) net.HardwareAddr {
	b := addr.As4()
	return net.HardwareAddr{0x52, 0x54, 0x00, b[1], b[2], b[3]}
}
