package ipam

import (
	"net"
	"net/netip"
)

// MAC returns the MAC address for a guest at addr: the prefix 02:76:6c
// (locally administered, unicast, no vendor's OUI; hypervisor.MACPrefix)
// followed by the last three bytes of the IPv4 address, so it is unique
// within any subnet up to a /8 and the same after a restart or a restore.
func MAC(addr netip.Addr) net.HardwareAddr {
	b := addr.As4()
	return net.HardwareAddr{0x02, 0x76, 0x6c, b[1], b[2], b[3]}
}
