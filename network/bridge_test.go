package network

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// bridgeState is what EnsureBridge promises about the bridge.
type bridgeState struct {
	Type  string
	Up    bool
	MAC   string
	Addrs []string
}

func readBridge(t *testing.T, h *netlink.Handle, name string) (bridgeState, int) {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("bridge %s: %v", name, err)
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var as []string
	for _, a := range addrs {
		as = append(as, a.IPNet.String())
	}
	return bridgeState{
		Type:  l.Type(),
		Up:    l.Attrs().Flags&net.FlagUp != 0,
		MAC:   l.Attrs().HardwareAddr.String(),
		Addrs: as,
	}, l.Attrs().Index
}

func TestEnsureBridge(t *testing.T) {
	ns := newNS(t, "bridge")
	h := handleAt(t, ns)
	cfg := Config{Subnet: netip.MustParsePrefix("10.77.0.0/16")}
	m := newManager(t, ns, cfg)

	want := bridgeState{Type: "bridge", Up: true, MAC: bridgeMAC(DefaultBridge).String(), Addrs: []string{"10.77.0.1/16"}}

	mustEnsureBridge(t, m)
	got, index := readBridge(t, h, DefaultBridge)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after first EnsureBridge (-want +got):\n%s", diff)
	}

	t.Run("second call changes nothing", func(t *testing.T) {
		mustEnsureBridge(t, m)
		got, index2 := readBridge(t, h, DefaultBridge)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if index2 != index {
			t.Errorf("bridge index = %d, want %d (bridge was recreated)", index2, index)
		}
	})

	t.Run("drift is corrected", func(t *testing.T) {
		l, err := h.LinkByName(DefaultBridge)
		if err != nil {
			t.Fatal(err)
		}
		gw, _ := netlink.ParseAddr("10.77.0.1/16")
		stray, _ := netlink.ParseAddr("192.0.2.7/24")
		if err := h.AddrDel(l, gw); err != nil {
			t.Fatal(err)
		}
		if err := h.AddrAdd(l, stray); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetDown(l); err != nil {
			t.Fatal(err)
		}
		mustEnsureBridge(t, m)
		got, _ := readBridge(t, h, DefaultBridge)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("a non-bridge of that name is a conflict", func(t *testing.T) {
		ns := newNS(t, "notbridge")
		h := handleAt(t, ns)
		addVeth(t, h, DefaultBridge, "peer0")
		err := newManager(t, ns, Config{}).EnsureBridge(context.Background())
		if !isConflict(err) {
			t.Errorf("EnsureBridge over a veth = %v, want ErrConflict", err)
		}
	})
}
