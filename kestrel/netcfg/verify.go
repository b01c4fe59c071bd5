package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/volant-sh/volant/internal/poll"
)

// State is what the kernel says a link has: read back after applying a
// Config, so the agent never reports an identity the guest does not have.
type State struct {
	Link    string
	MAC     net.HardwareAddr
	Up      bool
	Addrs   []netip.Prefix
	Gateway netip.Addr // the default route's gateway on this link, if any
}

// ErrNoLink is returned when the link to configure does not exist (yet).
var ErrNoLink = errors.New("no such network link")

// Check says what in s differs from what cfg gives the link: the MAC, the
// link being up, the address, the default route. Nil means all is there.
func (s State) Check(cfg Config) error {
	var miss []string
	if cfg.MAC != nil && s.MAC.String() != cfg.MAC.String() {
		miss = append(miss, fmt.Sprintf("mac is %s, not %s", s.MAC, cfg.MAC))
	}
	if cfg.linked() && !s.Up {
		miss = append(miss, "the link is down")
	}
	if cfg.Addr.IsValid() && !slices.Contains(s.Addrs, cfg.Addr) {
		miss = append(miss, fmt.Sprintf("address %s is missing (has %v)", cfg.Addr, s.Addrs))
	}
	if cfg.Gateway.IsValid() && s.Gateway != cfg.Gateway {
		miss = append(miss, fmt.Sprintf("default route via %s is missing (has %v)", cfg.Gateway, s.Gateway))
	}
	if len(miss) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", s.Link, strings.Join(miss, "; "))
}

// linked reports whether cfg touches the link at all.
func (cfg Config) linked() bool { return cfg.MAC != nil || cfg.Addr.IsValid() || cfg.Gateway.IsValid() }

func (cfg Config) link() string {
	if cfg.Link == "" {
		return "eth0"
	}
	return cfg.Link
}

// Read reads the state of link name from the kernel.
func Read(name string) (State, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return State{Link: name}, fmt.Errorf("%s: %w", name, ErrNoLink)
		}
		return State{Link: name}, fmt.Errorf("finding link %s: %w", name, err)
	}
	st := State{Link: name, MAC: link.Attrs().HardwareAddr, Up: link.Attrs().Flags&net.FlagUp != 0}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return st, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap().IsLinkLocalUnicast() {
			continue
		}
		bits, _ := a.Mask.Size()
		st.Addrs = append(st.Addrs, netip.PrefixFrom(ip.Unmap(), bits))
	}
	routes, err := netlink.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		return st, fmt.Errorf("listing routes of %s: %w", name, err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok && !st.Gateway.IsValid() {
			st.Gateway = gw.Unmap()
		}
	}
	return st, nil
}

// ApplyVerified applies cfg like Apply and reads the link back until it has
// what cfg gives it. A link that is not there yet (its driver still
// probing, under load) is waited for, and the link is configured again
// while the kernel does not show the MAC, address or route, until ctx
// ends: then the error says what is missing.
func ApplyVerified(ctx context.Context, cfg Config) (State, error) {
	name := cfg.link()
	var st State
	err := poll.Until(ctx, poll.Backoff{First: 10 * time.Millisecond, Max: 200 * time.Millisecond}, func(context.Context) error {
		err := Apply(cfg)
		if err == nil || errors.Is(err, ErrNoLink) {
			st, err = Read(name)
			if err == nil {
				err = st.Check(cfg)
			}
		}
		return err
	})
	if err != nil {
		return st, fmt.Errorf("configuring %s: %w", name, err)
	}
	return st, nil
}
