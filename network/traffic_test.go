package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Dial timeouts. A refused path is one whose SYN gets no answer, so the
// negative checks wait out refuseWait; every negative check is paired with
// a positive one over the same bridge, which proves the path works.
const (
	reachWait  = 10 * time.Second
	refuseWait = 2 * time.Second
)

// guest is a namespace standing in for a VM: a veth whose host end is
// enslaved to the bridge the way a tap is.
type guest struct {
	ns   netns.NsHandle
	addr string
}

// addGuest creates a guest namespace with address ip on the bridge's
// subnet and a default route through the gateway.
func addGuest(t *testing.T, m *Manager, host netns.NsHandle, hostEnd, ip string) guest {
	t.Helper()
	g := newNS(t, "guest")
	hh := handleAt(t, host)
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostEnd
	if err := hh.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(g))}); err != nil {
		t.Fatalf("adding veth: %v", err)
	}
	m.mu.Lock()
	br, err := m.bridgeLocked(m.h)
	if err == nil {
		var l netlink.Link
		if l, err = m.h.LinkByName(hostEnd); err == nil {
			err = m.attachPort(m.h, br, l)
		}
	}
	m.mu.Unlock()
	if err != nil {
		t.Fatalf("attaching %s: %v", hostEnd, err)
	}

	gh := handleAt(t, g)
	eth, err := gh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := netlink.ParseAddr(ip + "/16")
	if err := gh.AddrAdd(eth, a); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"lo", "eth0"} {
		link, err := gh.LinkByName(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := gh.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	gw := m.Config().Gateway().Addr().AsSlice()
	if err := gh.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		t.Fatalf("default route: %v", err)
	}
	return guest{ns: g, addr: ip}
}

// listen starts a TCP listener inside ns that accepts and closes
// connections until the test ends.
func listen(t *testing.T, ns netns.NsHandle, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	runIn(t, ns, func() { ln, err = net.Listen("tcp4", addr) })
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
}

// dial reports whether a TCP connection from inside ns to addr succeeds
// within wait.
func dial(t *testing.T, ns netns.NsHandle, addr string, wait time.Duration) error {
	t.Helper()
	var err error
	runIn(t, ns, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp4", addr, wait)
		if err == nil {
			c.Close()
		}
	})
	return err
}

func mustReach(t *testing.T, from netns.NsHandle, who, addr string) {
	t.Helper()
	if err := dial(t, from, addr, reachWait); err != nil {
		t.Errorf("%s -> %s: %v, want a connection", who, addr, err)
	}
}

func mustNotReach(t *testing.T, from netns.NsHandle, who, addr string) {
	t.Helper()
	if err := dial(t, from, addr, refuseWait); err == nil {
		t.Errorf("%s -> %s connected, want it blocked", who, addr)
	}
}

// hostSetup makes the "host" namespace: loopback up with an extra host
// address, a Manager with its bridge, listeners on the protected port and
// on an ordinary port, and two guests.
func hostSetup(t *testing.T, cfg Config) (host netns.NsHandle, m *Manager, a, b guest) {
	t.Helper()
	host = newNS(t, "host")
	hh := handleAt(t, host)
	lo, err := hh.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := hh.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	// Another address of the host, not on the bridge: the protected port
	// must be closed to guests there too.
	other, _ := netlink.ParseAddr("192.0.2.1/32")
	if err := hh.AddrAdd(lo, other); err != nil {
		t.Fatal(err)
	}

	m = newManager(t, host, cfg)
	mustEnsureBridge(t, m)
	listen(t, host, "0.0.0.0:7777")
	listen(t, host, "0.0.0.0:8080")
	a = addGuest(t, m, host, "vhosta", "10.88.0.10")
	b = addGuest(t, m, host, "vhostb", "10.88.0.11")
	listen(t, a.ns, "0.0.0.0:9000")
	listen(t, b.ns, "0.0.0.0:9000")
	return host, m, a, b
}

func TestTrafficIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, m, a, b := hostSetup(t, Config{ProtectedPorts: []uint16{7777}})
	at := func(g guest, port int) string { return fmt.Sprintf("%s:%d", g.addr, port) }

	// Port isolation alone, before any firewall: the host reaches both
	// guests and they reach the host, but not each other.
	mustReach(t, host, "host", at(a, 9000))
	mustReach(t, host, "host", at(b, 9000))
	mustReach(t, a.ns, "guest a", "10.88.0.1:8080")
	mustReach(t, a.ns, "guest a", "10.88.0.1:7777")
	mustReach(t, a.ns, "guest a", "192.0.2.1:7777")
	mustNotReach(t, a.ns, "guest a", at(b, 9000))
	mustNotReach(t, b.ns, "guest b", at(a, 9000))

	if err := m.EnsureFirewall(ctx); err != nil {
		t.Fatalf("EnsureFirewall: %v", err)
	}
	// The host still reaches guests (replies come back as established),
	// and its own protected port on the gateway address.
	mustReach(t, host, "host", at(a, 9000))
	mustReach(t, host, "host", "10.88.0.1:7777")
	// Guests reach nothing on the host: not the protected port on any
	// host address, not any other port.
	mustNotReach(t, a.ns, "guest a", "10.88.0.1:7777")
	mustNotReach(t, a.ns, "guest a", "192.0.2.1:7777")
	mustNotReach(t, a.ns, "guest a", "10.88.0.1:8080")
	mustNotReach(t, a.ns, "guest a", at(b, 9000))
}

func TestTrafficGuestToGuest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, m, a, b := hostSetup(t, Config{ProtectedPorts: []uint16{7777}, AllowGuestToGuest: true})
	if err := m.EnsureFirewall(ctx); err != nil {
		t.Fatalf("EnsureFirewall: %v", err)
	}
	at := func(g guest, port int) string { return fmt.Sprintf("%s:%d", g.addr, port) }

	mustReach(t, a.ns, "guest a", at(b, 9000))
	mustReach(t, b.ns, "guest b", at(a, 9000))
	mustReach(t, host, "host", at(a, 9000))
	mustNotReach(t, a.ns, "guest a", "10.88.0.1:7777")
	mustNotReach(t, b.ns, "guest b", "192.0.2.1:7777")
}

// TestTrafficFirewallSeparatesGuests checks the forward chain on its own:
// with port isolation switched off behind the Manager's back, guests still
// cannot reach each other, because br_netfilter hands bridged IPv4 to the
// inet forward hook where Volant's table drops guest-to-guest traffic.
func TestTrafficFirewallSeparatesGuests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host, m, a, b := hostSetup(t, Config{})
	var callIPTables []byte
	runIn(t, host, func() { callIPTables, _ = os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables") })
	if strings.TrimSpace(string(callIPTables)) != "1" {
		t.Skip("bridged traffic does not pass the inet hooks here (net.bridge.bridge-nf-call-iptables is not 1); isolation alone separates guests")
	}
	hh := handleAt(t, host)
	for _, name := range []string{"vhosta", "vhostb"} {
		l, err := hh.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := hh.LinkSetIsolated(l, false); err != nil {
			t.Fatal(err)
		}
	}
	at := func(g guest, port int) string { return fmt.Sprintf("%s:%d", g.addr, port) }
	mustReach(t, a.ns, "guest a", at(b, 9000))

	if err := m.EnsureFirewall(ctx); err != nil {
		t.Fatalf("EnsureFirewall: %v", err)
	}
	mustNotReach(t, a.ns, "guest a", at(b, 9000))
	mustNotReach(t, b.ns, "guest b", at(a, 9000))
	mustReach(t, host, "host", at(b, 9000))
}
