package network

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var nsCounter atomic.Int64

// newNS creates a network namespace of the test's own, named uniquely, and
// deletes it when the test ends. It skips the test when namespaces cannot
// be made (not root, no ip command).
func newNS(t *testing.T, tag string) netns.NsHandle {
	t.Helper()
	ns, _ := newNamedNS(t, tag)
	return ns
}

// newNamedNS is newNS that also returns the namespace's name, for
// `ip netns exec`.
func newNamedNS(t *testing.T, tag string) (netns.NsHandle, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run the tests as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is not installed")
	}
	name := fmt.Sprintf("vtest-%d-%d-%s", os.Getpid(), nsCounter.Add(1), tag)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	t.Logf("namespace %s: %s", tag, name)
	return ns, name
}

// newManager returns a Manager working in ns, closed when the test ends.
func newManager(t *testing.T, ns netns.NsHandle, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg, WithNetNS(ns))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// handleAt returns a netlink handle in ns, closed when the test ends.
func handleAt(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// runIn runs fn on a locked OS thread inside ns and switches it back after.
func runIn(t *testing.T, ns netns.NsHandle, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			done <- err // thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("running in namespace: %v", err)
	}
}

func mustEnsureBridge(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.EnsureBridge(context.Background()); err != nil {
		t.Fatalf("EnsureBridge: %v", err)
	}
}

// addVeth creates a veth pair in the namespace of h. (The test kernel may
// lack the dummy driver; veth is always there where bridges are used.)
func addVeth(t *testing.T, h *netlink.Handle, name, peer string) {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: peer}); err != nil {
		t.Fatalf("adding veth %s: %v", name, err)
	}
}
