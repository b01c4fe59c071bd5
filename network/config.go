package network

import (
	"net/netip"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// Defaults used when the matching Config field is left zero.
const (
	// DefaultBridge is the name of the bridge guests' taps are enslaved to.
	DefaultBridge = "volant0"
	// DefaultTable is the name of the nftables table (family inet) Volant owns.
	DefaultTable = "volant"
	// TapPrefix starts the name of every tap TapName makes; ListTaps finds taps by it.
	TapPrefix = "vt"
)

// DefaultSubnet is the guest subnet used when Config.Subnet is unset.
var DefaultSubnet = netip.MustParsePrefix("10.88.0.0/16")

// maxIfName is the longest interface name Linux accepts (IFNAMSIZ - 1).
const maxIfName = 15

// Config describes the host side of guest networking. The zero value is
// usable: every unset field takes the default named in its comment.
type Config struct {
	// Bridge is the bridge every tap is enslaved to. Default DefaultBridge.
	Bridge string
	// Subnet is the IPv4 guest subnet. The bridge gets its first address
	// as the guests' gateway. Default DefaultSubnet.
	Subnet netip.Prefix
	// MTU of the bridge; 0 leaves the kernel default.
	MTU int
	// Table is the name of the inet nftables table Volant owns and rebuilds.
	// Default DefaultTable.
	Table string

	// AllowGuestToGuest turns bridge port isolation off and lets guests
	// talk to each other. Off by default: each guest reaches only the host
	// side of the bridge (and the outside world when NAT is on).
	AllowGuestToGuest bool
	// NAT masquerades guest traffic leaving through any interface other
	// than the bridge and enables IPv4 forwarding in the namespace.
	NAT bool
	// ProtectedPorts are host TCP and UDP ports guests may never reach, on
	// any host address (for example the daemon's API port 7777). They are
	// dropped even if an allowance below would otherwise let them through.
	ProtectedPorts []uint16
	// AllowDHCP lets guests reach a DHCP server on the host (UDP 67).
	AllowDHCP bool
	// AllowDNS lets guests reach a DNS resolver on the host (UDP and TCP 53).
	AllowDNS bool
	// AllowPing lets guests ping the host (ICMP echo request).
	AllowPing bool

	// EgressProxyPort, when set, turns egress enforcement on (see
	// network/egress): every TCP connection a guest starts to an address
	// outside the subnet is redirected to this port on the gateway, where
	// volantd's proxy judges it; guests may query DNS only on the gateway;
	// everything else they send out (UDP, ICMP, IPv6, other DNS servers)
	// is rejected, with a TCP reset or an ICMP error so nothing hangs.
	// It implies AllowDNS.
	EgressProxyPort uint16
}

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if !c.Subnet.IsValid() {
		c.Subnet = DefaultSubnet
	}
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.EgressProxyPort != 0 {
		c.AllowDNS = true
	}
	return c
}

// Validate reports the first field of c that cannot work, as an
// errdefs.ErrInvalidArgument error that says how to fix it. Unset fields
// are valid: they take their defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := validIfName(c.Bridge); err != nil {
		return errdefs.Invalid("network config: bridge: %v", err)
	}
	if strings.HasPrefix(c.Bridge, TapPrefix) {
		return errdefs.Invalid("network config: bridge %q must not start with the tap prefix %q; pick another name", c.Bridge, TapPrefix)
	}
	if !c.Subnet.Addr().Is4() {
		return errdefs.Invalid("network config: subnet %s is not IPv4; use an IPv4 prefix such as %s", c.Subnet, DefaultSubnet)
	}
	if c.Subnet.Bits() > 30 {
		return errdefs.Invalid("network config: subnet %s leaves no room for guests; use a prefix of /30 or shorter", c.Subnet)
	}
	if c.Subnet != c.Subnet.Masked() {
		return errdefs.Invalid("network config: subnet %s has host bits set; use %s", c.Subnet, c.Subnet.Masked())
	}
	if c.MTU < 0 || (c.MTU > 0 && c.MTU < 576) || c.MTU > 65535 {
		return errdefs.Invalid("network config: mtu %d out of range; use 0 for the default or 576..65535", c.MTU)
	}
	if c.Table == "" || len(c.Table) > 255 || strings.ContainsAny(c.Table, " \t\n\"/") {
		return errdefs.Invalid("network config: table name %q is not usable; use a short word such as %q", c.Table, DefaultTable)
	}
	for _, p := range c.ProtectedPorts {
		if p == 0 {
			return errdefs.Invalid("network config: protected port 0 is not a port; list real port numbers")
		}
	}
	return nil
}

// Gateway is the address the bridge carries: the first address of the
// subnet, with the subnet's length (for example 10.88.0.1/16).
func (c Config) Gateway() netip.Prefix {
	c = c.withDefaults()
	return netip.PrefixFrom(c.Subnet.Masked().Addr().Next(), c.Subnet.Bits())
}

// validIfName reports why name cannot be a Linux interface name.
func validIfName(name string) error {
	switch {
	case name == "":
		return errdefs.Invalid("interface name is empty")
	case len(name) > maxIfName:
		return errdefs.Invalid("interface name %q is longer than %d bytes", name, maxIfName)
	case name == "." || name == "..":
		return errdefs.Invalid("interface name %q is reserved", name)
	case strings.ContainsAny(name, "/: \t\n\x00"):
		return errdefs.Invalid("interface name %q contains '/', ':' or white space", name)
	}
	return nil
}
