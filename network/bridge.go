package network

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
)

// EnsureBridge makes the bridge exist, carry the gateway address (and no
// other IPv4 address), have a stable MAC address and be up. It is
// idempotent: a second call changes nothing, and whatever drifted (a wrong
// address, the link set down) is put right.
func (m *Manager) EnsureBridge(ctx context.Context) error {
	h, unlock, err := m.begin(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	br, err := m.ensureBridgeLink(h)
	if err != nil {
		return err
	}
	if err := m.ensureGateway(h, br); err != nil {
		return err
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(br); err != nil {
			return wrapNetlink("setting bridge "+m.cfg.Bridge+" up", err)
		}
	}
	return nil
}

// ensureBridgeLink returns the bridge, creating it when it is missing.
func (m *Manager) ensureBridgeLink(h *netlink.Handle) (netlink.Link, error) {
	name := m.cfg.Bridge
	mac := bridgeMAC(name)
	link, err := h.LinkByName(name)
	if isLinkNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.MTU = m.cfg.MTU
		attrs.HardwareAddr = mac
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, wrapNetlink("creating bridge "+name, err)
		}
		m.log.Info("created bridge", "bridge", name)
		link, err = h.LinkByName(name)
	}
	if err != nil {
		return nil, wrapNetlink("looking up bridge "+name, err)
	}
	if link.Type() != "bridge" {
		return nil, errdefs.Conflict("network: %s is a %s, not a bridge; remove it or configure another bridge name", name, link.Type())
	}
	// A bridge without a fixed address takes the lowest of its ports',
	// which changes as guests come and go and confuses their ARP caches.
	if link.Attrs().HardwareAddr.String() != mac.String() {
		if err := h.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, wrapNetlink("setting mac of bridge "+name, err)
		}
	}
	if m.cfg.MTU != 0 && link.Attrs().MTU != m.cfg.MTU {
		if err := h.LinkSetMTU(link, m.cfg.MTU); err != nil {
			return nil, wrapNetlink("setting mtu of bridge "+name, err)
		}
	}
	return link, nil
}

// ensureGateway gives the bridge the gateway address and removes any other
// IPv4 address from it.
func (m *Manager) ensureGateway(h *netlink.Handle, br netlink.Link) error {
	want := m.cfg.Gateway()
	addrs, err := h.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return wrapNetlink("listing addresses of "+m.cfg.Bridge, err)
	}
	have := false
	for _, a := range addrs {
		p, ok := prefixOf(a)
		if ok && p == want {
			have = true
			continue
		}
		if err := h.AddrDel(br, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return wrapNetlink("removing stray address "+a.IPNet.String()+" from "+m.cfg.Bridge, err)
		}
		m.log.Info("removed stray bridge address", "bridge", m.cfg.Bridge, "addr", a.IPNet.String())
	}
	if have {
		return nil
	}
	ip := want.Addr().AsSlice()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(want.Bits(), 32)}}
	if err := h.AddrReplace(br, addr); err != nil {
		return wrapNetlink("adding "+want.String()+" to "+m.cfg.Bridge, err)
	}
	m.log.Info("set bridge address", "bridge", m.cfg.Bridge, "addr", want.String())
	return nil
}

// prefixOf converts a netlink address to a netip.Prefix.
func prefixOf(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IPNet.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := a.IPNet.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

// bridgeMAC derives a stable, locally administered unicast MAC address from
// the bridge's name.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("volant-bridge/" + name))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// isLinkNotFound reports whether err says a link does not exist.
func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
