package network

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/volant-sh/volant/errdefs"
)

func isConflict(err error) bool { return errors.Is(err, errdefs.ErrConflict) }

// portState is what CreateTap promises about a tap.
type portState struct {
	Tap      bool
	OnBridge bool
	Up       bool
	Isolated bool
	Learning bool
	Flood    bool
	Hairpin  bool
}

func readPort(t *testing.T, h *netlink.Handle, name string) portState {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	br, err := h.LinkByName(DefaultBridge)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := h.LinkGetProtinfo(l)
	if err != nil {
		t.Fatalf("protinfo of %s: %v", name, err)
	}
	return portState{
		Tap:      isTap(l),
		OnBridge: l.Attrs().MasterIndex == br.Attrs().Index,
		Up:       l.Attrs().Flags&net.FlagUp != 0,
		Isolated: pi.Isolated,
		Learning: pi.Learning,
		Flood:    pi.Flood,
		Hairpin:  pi.Hairpin,
	}
}

func TestTapName(t *testing.T) {
	for _, id := range []string{"", "sb-1", "sb-2", strings.Repeat("x", 300)} {
		name := TapName(id)
		if len(name) != maxIfName || !strings.HasPrefix(name, TapPrefix) {
			t.Errorf("TapName(%q) = %q, want %d bytes starting %q", id, name, maxIfName, TapPrefix)
		}
		if again := TapName(id); again != name {
			t.Errorf("TapName(%q) = %q then %q, want stable", id, name, again)
		}
		if err := validIfName(name); err != nil {
			t.Errorf("TapName(%q) = %q: %v", id, name, err)
		}
	}
	if TapName("sb-1") == TapName("sb-2") {
		t.Errorf("TapName gives sb-1 and sb-2 the same name")
	}
}

func TestTapLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
		want portState
	}{
		{"isolated", Config{}, portState{Tap: true, OnBridge: true, Up: true, Isolated: true, Learning: true, Flood: true}},
		{"guest to guest", Config{AllowGuestToGuest: true}, portState{Tap: true, OnBridge: true, Up: true, Isolated: false, Learning: true, Flood: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t, "tap")
			h := handleAt(t, ns)
			m := newManager(t, ns, tc.cfg)
			tap := TapName("sandbox-" + tc.name)

			if err := m.CreateTap(ctx, tap); !errors.Is(err, errdefs.ErrUnavailable) {
				t.Errorf("CreateTap before EnsureBridge = %v, want ErrUnavailable", err)
			}
			mustEnsureBridge(t, m)

			if err := m.CreateTap(ctx, tap); err != nil {
				t.Fatalf("CreateTap: %v", err)
			}
			if diff := cmp.Diff(tc.want, readPort(t, h, tap)); diff != "" {
				t.Errorf("after CreateTap (-want +got):\n%s", diff)
			}
			l, _ := h.LinkByName(tap)
			index := l.Attrs().Index

			// Drift a restart must repair: the port set free and down.
			if err := h.LinkSetNoMaster(l); err != nil {
				t.Fatal(err)
			}
			if err := h.LinkSetDown(l); err != nil {
				t.Fatal(err)
			}
			if err := m.CreateTap(ctx, tap); err != nil {
				t.Fatalf("second CreateTap: %v", err)
			}
			if diff := cmp.Diff(tc.want, readPort(t, h, tap)); diff != "" {
				t.Errorf("after second CreateTap (-want +got):\n%s", diff)
			}
			if l, _ := h.LinkByName(tap); l.Attrs().Index != index {
				t.Errorf("second CreateTap recreated the tap (index %d, was %d)", l.Attrs().Index, index)
			}

			// A persistent tap outlives the process that made it; a
			// free-standing tap of ours is listed as leaked too.
			other := TapName("other")
			if err := m.CreateTap(ctx, other); err != nil {
				t.Fatal(err)
			}
			lo, _ := h.LinkByName(other)
			if err := h.LinkSetNoMaster(lo); err != nil {
				t.Fatal(err)
			}
			got, err := m.ListTaps(ctx)
			if err != nil {
				t.Fatalf("ListTaps: %v", err)
			}
			want := []string{tap, other}
			if want[0] > want[1] {
				want[0], want[1] = want[1], want[0]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ListTaps (-want +got):\n%s", diff)
			}

			for i := range 2 {
				if err := m.DeleteTap(ctx, tap); err != nil {
					t.Fatalf("DeleteTap #%d: %v", i+1, err)
				}
			}
			if _, err := h.LinkByName(tap); err == nil {
				t.Errorf("tap %s still exists after DeleteTap", tap)
			}
			got, err = m.ListTaps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{other}, got); diff != "" {
				t.Errorf("ListTaps after DeleteTap (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTapConflicts(t *testing.T) {
	ctx := context.Background()
	ns := newNS(t, "tapconflict")
	h := handleAt(t, ns)
	m := newManager(t, ns, Config{})
	mustEnsureBridge(t, m)

	addVeth(t, h, "vtdummy", "peer0")
	if err := m.CreateTap(ctx, "vtdummy"); !isConflict(err) {
		t.Errorf("CreateTap over a veth = %v, want ErrConflict", err)
	}
	if err := m.DeleteTap(ctx, "vtdummy"); !isConflict(err) {
		t.Errorf("DeleteTap of a veth = %v, want ErrConflict", err)
	}
	if _, err := h.LinkByName("vtdummy"); err != nil {
		t.Errorf("DeleteTap removed a link that is not a tap: %v", err)
	}
	if got, err := m.ListTaps(ctx); err != nil || len(got) != 0 {
		t.Errorf("ListTaps = %v, %v; want no taps", got, err)
	}
	for _, bad := range []string{"", "much-too-long-name0", "a/b"} {
		if err := m.CreateTap(ctx, bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("CreateTap(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}
