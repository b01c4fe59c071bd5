package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
)

// TapName returns the tap name for a sandbox: TapPrefix followed by the
// first 13 hex digits of the SHA-256 of its id, 15 bytes in all (the
// longest name Linux allows). The same id always gives the same name.
func TapName(sandboxID string) string {
	sum := sha256.Sum256([]byte(sandboxID))
	return (TapPrefix + hex.EncodeToString(sum[:]))[:maxIfName]
}

// CreateTap makes a persistent tap (single queue, owned by root) called
// name, enslaves it to the bridge, applies the port settings and sets it up.
// An existing tap of that name is reused and its settings are put right, so
// CreateTap can run again after a restart. The bridge must exist (see
// EnsureBridge). A link of that name that is not a tap is an ErrConflict.
func (m *Manager) CreateTap(ctx context.Context, name string) error {
	if err := validIfName(name); err != nil {
		return err
	}
	h, unlock, err := m.begin(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	br, err := m.bridgeLocked(h)
	if err != nil {
		return err
	}
	link, err := h.LinkByName(name)
	if isLinkNotFound(err) {
		if err := m.addTap(name); err != nil {
			return err
		}
		m.log.Info("created tap", "tap", name)
		link, err = h.LinkByName(name)
	}
	if err != nil {
		return wrapNetlink("looking up tap "+name, err)
	}
	if !isTap(link) {
		return errdefs.Conflict("network: %s exists and is a %s, not a tap; remove it or use another name", name, link.Type())
	}
	return m.attachPort(h, br, link)
}

// addTap creates a persistent tap. The kernel creates a tap in the
// namespace of the thread that opens /dev/net/tun, so this runs inside the
// Manager's namespace.
func (m *Manager) addTap(name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	tap := &netlink.Tuntap{
		LinkAttrs: attrs,
		Mode:      netlink.TUNTAP_MODE_TAP,
		// Not TUN_EXCL, so a VMM can attach later; no MULTI_QUEUE, which
		// the VMM's own TUNSETIFF must match.
		Flags:      netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR,
		NonPersist: false,
		Owner:      0,
		Group:      0,
	}
	err := m.inNamespace(func() error {
		// Use a handle of this thread's namespace: the tap's index is
		// looked up after creation.
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		return h.LinkAdd(tap)
	})
	if err != nil && !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EBUSY) {
		return wrapNetlink("creating tap "+name, err)
	}
	return nil
}

// attachPort enslaves link to the bridge, sets the bridge port flags and
// sets the link up. Every setting is written each time, so a port left
// half-configured by a crash is completed.
func (m *Manager) attachPort(h *netlink.Handle, br, link netlink.Link) error {
	name := link.Attrs().Name
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := h.LinkSetMasterByIndex(link, br.Attrs().Index); err != nil {
			return wrapNetlink("enslaving "+name+" to "+m.cfg.Bridge, err)
		}
	}
	isolated := !m.cfg.AllowGuestToGuest
	steps := []struct {
		what string
		set  func(netlink.Link, bool) error
		on   bool
	}{
		// Isolated ports cannot exchange frames with each other, only with
		// the bridge itself and non-isolated ports.
		{"isolation", h.LinkSetIsolated, isolated},
		// Learning lets the bridge deliver frames for the guest's MAC to
		// its port alone; flooding of unknown unicast stays on so the
		// first frames before learning still arrive.
		{"learning", h.LinkSetLearning, true},
		{"flood", h.LinkSetFlood, true},
		// A guest's frames never come back out of its own port.
		{"hairpin", h.LinkSetHairpin, false},
	}
	for _, s := range steps {
		if err := s.set(link, s.on); err != nil {
			return wrapNetlink("setting "+s.what+" on "+name, err)
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return wrapNetlink("setting "+name+" up", err)
		}
	}
	return nil
}

// DeleteTap removes the tap called name. A missing tap is not an error, so
// DeleteTap can run again; a link of that name that is not a tap is an
// ErrConflict and is left alone.
func (m *Manager) DeleteTap(ctx context.Context, name string) error {
	if err := validIfName(name); err != nil {
		return err
	}
	h, unlock, err := m.begin(ctx)
	if err != nil {
		return err
	}
	defer unlock()

	link, err := h.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return wrapNetlink("looking up tap "+name, err)
	}
	if !isTap(link) {
		return errdefs.Conflict("network: %s is a %s, not a tap; not deleting it", name, link.Type())
	}
	if err := h.LinkDel(link); err != nil && !isLinkNotFound(err) {
		return wrapNetlink("deleting tap "+name, err)
	}
	m.log.Info("deleted tap", "tap", name)
	return nil
}

// ListTaps returns, sorted, the names of the taps that are ours: taps whose
// name starts with TapPrefix and that are enslaved to the bridge or to
// nothing (a crash between creating and enslaving leaves the latter).
// Restart recovery deletes those no sandbox owns. A missing bridge is not an
// error.
func (m *Manager) ListTaps(ctx context.Context) ([]string, error) {
	h, unlock, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	brIndex := -1
	if br, err := h.LinkByName(m.cfg.Bridge); err == nil {
		brIndex = br.Attrs().Index
	} else if !isLinkNotFound(err) {
		return nil, wrapNetlink("looking up bridge "+m.cfg.Bridge, err)
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, wrapNetlink("listing links", err)
	}
	var names []string
	for _, l := range links {
		a := l.Attrs()
		if !strings.HasPrefix(a.Name, TapPrefix) || !isTap(l) {
			continue
		}
		if a.MasterIndex == brIndex || a.MasterIndex == 0 {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// bridgeLocked returns the bridge, or an error saying to create it first.
func (m *Manager) bridgeLocked(h *netlink.Handle) (netlink.Link, error) {
	br, err := h.LinkByName(m.cfg.Bridge)
	if isLinkNotFound(err) {
		return nil, errdefs.Unavailable("network: bridge %s does not exist; call EnsureBridge first", m.cfg.Bridge)
	}
	if err != nil {
		return nil, wrapNetlink("looking up bridge "+m.cfg.Bridge, err)
	}
	if br.Type() != "bridge" {
		return nil, errdefs.Conflict("network: %s is a %s, not a bridge; remove it or configure another bridge name", m.cfg.Bridge, br.Type())
	}
	return br, nil
}

// isTap reports whether link is a tuntap device in tap mode.
func isTap(link netlink.Link) bool {
	t, ok := link.(*netlink.Tuntap)
	return ok && t.Mode == netlink.TUNTAP_MODE_TAP
}
