package network

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

// dialFrom reports whether a TCP connection from src inside the guest to
// addr succeeds.
func dialFrom(t *testing.T, g guest, src, addr string) error {
	t.Helper()
	var err error
	runIn(t, g.ns, func() {
		d := net.Dialer{Timeout: refuseWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		var c net.Conn
		c, err = d.Dial("tcp4", addr)
		if err == nil {
			c.Close()
		}
	})
	return err
}

// TestPinTap checks that a pinned tap only passes frames from its guest's
// own MAC and address: a forged source address reaches nothing, the real
// one still does, and unpinning lifts it.
func TestPinTap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, m, a, _ := hostSetup(t, Config{})
	gh := handleAt(t, a.ns)
	eth, err := gh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := netlink.ParseAddr("10.88.0.99/16")
	forged.Flags = 0x02 // no DAD
	if err := gh.AddrAdd(eth, forged); err != nil {
		t.Fatal(err)
	}
	if err := dialFrom(t, a, "10.88.0.99", "10.88.0.1:8080"); err != nil {
		t.Fatalf("before pinning, the second address cannot reach the host: %v", err)
	}

	if err := m.PinTap(ctx, "vhosta", eth.Attrs().HardwareAddr, netip.MustParseAddr(a.addr)); err != nil {
		t.Fatalf("PinTap: %v", err)
	}
	// Twice: replaces, does not add.
	if err := m.PinTap(ctx, "vhosta", eth.Attrs().HardwareAddr, netip.MustParseAddr(a.addr)); err != nil {
		t.Fatalf("second PinTap: %v", err)
	}
	if err := dialFrom(t, a, "10.88.0.99", "10.88.0.1:8080"); err == nil {
		t.Error("a forged source address reached the host through a pinned tap")
	}
	if err := dialFrom(t, a, a.addr, "10.88.0.1:8080"); err != nil {
		t.Errorf("the guest's own address no longer reaches the host: %v", err)
	}

	if err := m.UnpinTap(ctx, "vhosta"); err != nil {
		t.Fatalf("UnpinTap: %v", err)
	}
	if err := dialFrom(t, a, "10.88.0.99", "10.88.0.1:8080"); err != nil {
		t.Errorf("after unpinning, the second address cannot reach the host: %v", err)
	}
	if err := m.UnpinTap(ctx, "vhosta"); err != nil {
		t.Fatalf("second UnpinTap: %v", err)
	}
	if err := m.Teardown(ctx); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
}
