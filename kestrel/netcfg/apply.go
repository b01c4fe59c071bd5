package netcfg

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackUp brings up lo.
func LoopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bringing up lo: %w", err)
	}
	return nil
}

// Apply configures the link: with a MAC it sets it (live where the driver
// allows, else with the link down);
// with an address it flushes the link's old IPv4/IPv6 global addresses and
// adds the new one; with a gateway it replaces the default route. It then
// sets the hostname and writes /etc/resolv.conf when those are given.
// Applying the same Config twice is harmless.
func Apply(cfg Config) error {
	if cfg.linked() {
		if err := applyLink(cfg); err != nil {
			return err
		}
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("setting hostname %s: %w", cfg.Hostname, err)
		}
		writeHostnameFile(HostnameFile, cfg.Hostname)
	}
	if len(cfg.DNS) > 0 {
		if err := WriteResolvConf("/etc/resolv.conf", cfg.DNS); err != nil {
			return err
		}
	}
	return nil
}

// setMAC gives link the address mac. It first tries while the link is up,
// which virtio-net allows (its control queue takes the new address): the
// carrier then stays on, so no link-down and link-up notices, no
// linkwatch event a second later and no restart of the link's protocols
// follow, work that otherwise ran while a restored guest's first requests
// waited. A driver that refuses a live change (EBUSY, EOPNOTSUPP) gets
// the address with the link down.
func setMAC(link netlink.Link, mac net.HardwareAddr) error {
	err := netlink.LinkSetHardwareAddr(link, mac)
	if err == nil || !(errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EOPNOTSUPP)) || link.Attrs().Flags&net.FlagUp == 0 {
		return err
	}
	if err := netlink.LinkSetDown(link); err != nil {
		return fmt.Errorf("taking it down: %w", err)
	}
	return netlink.LinkSetHardwareAddr(link, mac)
}

func applyLink(cfg Config) error {
	name := cfg.link()
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("%s: %w", name, ErrNoLink)
		}
		return fmt.Errorf("finding link %s: %w", name, err)
	}
	if cfg.MAC != nil && link.Attrs().HardwareAddr.String() != cfg.MAC.String() {
		if err := setMAC(link, cfg.MAC); err != nil {
			return fmt.Errorf("setting MAC of %s: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing up %s: %w", name, err)
	}
	if cfg.Addr.IsValid() {
		family := netlink.FAMILY_V4
		if cfg.Addr.Addr().Is6() {
			family = netlink.FAMILY_V6
		}
		addrs, err := netlink.AddrList(link, family)
		if err != nil {
			return fmt.Errorf("listing addresses of %s: %w", name, err)
		}
		want := &netlink.Addr{IPNet: &net.IPNet{IP: cfg.Addr.Addr().AsSlice(), Mask: net.CIDRMask(cfg.Addr.Bits(), cfg.Addr.Addr().BitLen())}}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() || a.Equal(*want) {
				continue
			}
			if err := netlink.AddrDel(link, &a); err != nil {
				return fmt.Errorf("removing old address %s of %s: %w", a.IPNet, name, err)
			}
		}
		if err := netlink.AddrReplace(link, want); err != nil {
			return fmt.Errorf("adding %s to %s: %w", cfg.Addr, name, err)
		}
	}
	if cfg.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: cfg.Gateway.AsSlice()}
		if err := netlink.RouteReplace(route); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("setting default route via %s: %w", cfg.Gateway, err)
		}
	}
	return nil
}
