package daemon_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/volant-sh/volant/network"
	"github.com/volant-sh/volant/store"
)

// TestBridgeInNamespace runs volantd with bridge networking inside a
// network namespace of its own (the namespace plays the host) and checks,
// with real guests: addresses and routes, the host reaching a guest's
// server, guests isolated from each other and from the daemon's port,
// taps and leases released on delete, and a restarted daemon adopting a
// running sandbox with its tap and address.
//
// The daemon listens on 0.0.0.0:7777 inside the namespace, so its API is
// on the bridge's gateway address too, and the firewall must keep guests
// off it.
func TestBridgeInNamespace(t *testing.T) {
	const subnet = "10.77.0.0/24"
	prefix := netip.MustParsePrefix(subnet)
	gw := "10.77.0.1"
	ns := newTestNS(t)
	d := newNSVolantd(t, ns, "0.0.0.0:7777", subnet)
	d.start()

	a, b := d.create(t), d.create(t)
	a, b = d.get(t, a.ID), d.get(t, b.ID)
	ipA, ipB := addrOf(t, a), addrOf(t, b)
	t.Logf("a: %s %s (%s boot), b: %s %s (%s boot)", a.ID, a.IP, a.Boot, b.ID, b.IP, b.Boot)

	t.Run("addresses", func(t *testing.T) {
		for _, sb := range []bridgeSandbox{a, b} {
			if sb.State != "running" {
				t.Errorf("%s is %s (%s); want running", sb.ID, sb.State, sb.Reason)
			}
			p := netip.MustParsePrefix(sb.IP)
			if !prefix.Contains(p.Addr()) || p.Bits() != prefix.Bits() || p.Addr().String() == gw {
				t.Errorf("%s has ip %s; want a guest address in %s", sb.ID, sb.IP, subnet)
			}
			if sb.Gateway != gw {
				t.Errorf("%s has gateway %q; want %s", sb.ID, sb.Gateway, gw)
			}
		}
		if ipA == ipB {
			t.Fatalf("both sandboxes have %s", ipA)
		}
		for _, sb := range []bridgeSandbox{a, b} {
			res := d.sh(t, sb.ID, "ip addr show eth0; ip route")
			if res.ExitCode != 0 {
				t.Fatalf("ip in %s: %+v", sb.ID, res)
			}
			if !strings.Contains(res.Stdout, "inet "+sb.IP+" ") {
				t.Errorf("%s: `ip addr` does not show inet %s:\n%s", sb.ID, sb.IP, res.Stdout)
			}
			if !strings.Contains(res.Stdout, "default via "+gw+" dev eth0") {
				t.Errorf("%s: no default route via %s:\n%s", sb.ID, gw, res.Stdout)
			}
			if !strings.Contains(strings.ToLower(res.Stdout), "link/ether "+strings.ToLower(sb.MAC)) {
				t.Errorf("%s: eth0 does not have mac %s:\n%s", sb.ID, sb.MAC, res.Stdout)
			}
		}
		// One tap per sandbox, on the bridge, in the namespace (once a
		// template that may be building on a tap of its own is done).
		want := []string{network.TapName(a.ID), network.TapName(b.ID)}
		slices.Sort(want)
		got := ns.tapsSettled(t, want)
		if !slices.Equal(got, want) {
			t.Errorf("taps in the namespace = %v; want %v", got, want)
		}
		for _, tap := range want {
			if out := ns.ip(t, "-d", "link", "show", tap); !strings.Contains(out, "master volant0") || !strings.Contains(out, "isolated on") {
				t.Errorf("tap %s is not an isolated port of volant0:\n%s", tap, out)
			}
		}
	})

	// A tiny TCP server in each guest: every connection gets "<name>\n".
	for _, s := range []struct{ sb, name string }{{a.ID, "hi-from-a"}, {b.ID, "hi-from-b"}} {
		res := d.sh(t, s.sb, "nc -ll -p 8080 -e echo "+s.name+" </dev/null >/dev/null 2>&1 &")
		if res.ExitCode != 0 {
			t.Fatalf("starting nc in %s: %+v", s.sb, res)
		}
	}

	t.Run("host reaches guests", func(t *testing.T) {
		for _, s := range []struct{ ip, want string }{{ipA, "hi-from-a\n"}, {ipB, "hi-from-b\n"}} {
			got, err := readFrom(ns, net.JoinHostPort(s.ip, "8080"))
			if err != nil {
				t.Errorf("from the namespace to %s:8080: %v", s.ip, err)
			} else if got != s.want {
				t.Errorf("from the namespace to %s:8080 got %q; want %q", s.ip, got, s.want)
			}
		}
	})

	t.Run("guests isolated", func(t *testing.T) {
		// Each guest's own server answers on its own address.
		for _, s := range []struct{ id, ip, want string }{{a.ID, ipA, "hi-from-a"}, {b.ID, ipB, "hi-from-b"}} {
			res := d.sh(t, s.id, "nc -w 5 "+s.ip+" 8080 </dev/null")
			if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != s.want {
				t.Errorf("%s to its own server: %+v", s.id, res)
			}
		}
		// Neither reaches the other.
		for _, s := range []struct{ from, to string }{{b.ID, ipA}, {a.ID, ipB}} {
			res := d.sh(t, s.from, "nc -w 3 "+s.to+" 8080 </dev/null")
			if res.ExitCode == 0 || strings.Contains(res.Stdout, "hi-from") {
				t.Errorf("%s reached %s:8080: %+v", s.from, s.to, res)
			}
		}
	})

	t.Run("daemon port protected", func(t *testing.T) {
		// The namespace reaches the daemon's API on the gateway address...
		resp, err := ns.httpClient().Get("http://" + net.JoinHostPort(gw, "7777") + "/healthz")
		if err != nil {
			t.Fatalf("from the namespace to the daemon on %s:7777: %v", gw, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("healthz on %s:7777 from the namespace: %d", gw, resp.StatusCode)
		}
		// ...a guest does not, by TCP or by HTTP.
		for _, id := range []string{a.ID, b.ID} {
			res := d.sh(t, id, "nc -w 3 "+gw+" 7777 </dev/null; echo nc=$?; wget -T 3 -q -O- http://"+gw+":7777/healthz; echo wget=$?")
			if strings.Contains(res.Stdout, "nc=0") || strings.Contains(res.Stdout, "wget=0") || !strings.Contains(res.Stdout, "wget=") {
				t.Errorf("%s reached the daemon on %s:7777: %+v", id, gw, res)
			}
		}
		// Any other service on the gateway address is out of reach too,
		// while the namespace reaches it.
		ln, err := ns.listen(net.JoinHostPort(gw, "8081"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, "host\n")
				c.Close()
			}
		}()
		if got, err := readFrom(ns, net.JoinHostPort(gw, "8081")); err != nil || got != "host\n" {
			t.Errorf("from the namespace to %s:8081: %q, %v", gw, got, err)
		}
		res := d.sh(t, b.ID, "nc -w 3 "+gw+" 8081 </dev/null; echo nc=$?")
		if strings.Contains(res.Stdout, "host") || strings.Contains(res.Stdout, "nc=0") {
			t.Errorf("guest reached %s:8081: %+v", gw, res)
		}
	})

	t.Run("clones answer side by side", func(t *testing.T) {
		// A's server was started before the fork: it runs on in each
		// clone, which answers on its own new address.
		var forked struct {
			Items []bridgeSandbox `json:"items"`
		}
		if err := d.call(context.Background(), "POST", "/v1/sandboxes/"+a.ID+"/fork", map[string]any{"count": 2}, &forked); err != nil {
			t.Fatal(err)
		}
		if len(forked.Items) != 2 {
			t.Fatalf("fork gave %d clones, want 2", len(forked.Items))
		}
		seen := map[string]string{ipA: a.ID, ipB: b.ID}
		macs := map[string]bool{a.MAC: true, b.MAC: true}
		for _, c := range forked.Items {
			ip := addrOf(t, c)
			if other, dup := seen[ip]; dup {
				t.Errorf("clone %s has address %s, already %s's", c.ID, ip, other)
			}
			seen[ip] = c.ID
			if macs[c.MAC] {
				t.Errorf("clone %s reuses MAC %s", c.ID, c.MAC)
			}
			macs[c.MAC] = true
			if res := d.sh(t, c.ID, "ip -4 -o addr show eth0; cat /sys/class/net/eth0/address"); !strings.Contains(res.Stdout, ip+"/") || !strings.Contains(res.Stdout, c.MAC) {
				t.Errorf("clone %s: guest shows %q, want %s and %s", c.ID, res.Stdout, ip, c.MAC)
			}
			got, err := readFrom(ns, net.JoinHostPort(ip, "8080"))
			if err != nil || got != "hi-from-a\n" {
				t.Errorf("from the namespace to clone %s at %s:8080: %q, %v", c.ID, ip, got, err)
			}
		}
		for _, c := range forked.Items {
			d.delete(t, c.ID)
		}
	})

	t.Run("delete releases taps and leases", func(t *testing.T) {
		d.delete(t, a.ID)
		d.delete(t, b.ID)
		if taps := ns.tapsSettled(t, nil); len(taps) != 0 {
			t.Errorf("taps left after deleting both sandboxes: %v", taps)
		}
		if leases := leasesOf(t, d.stateDir); len(leases) != 0 {
			t.Errorf("leases left after deleting both sandboxes: %+v", leases)
		}
	})

	t.Run("restart adopts", func(t *testing.T) {
		// A fresh daemon hands out the lowest free address again: the
		// first guest's, now released.
		d.stop()
		d.start()
		c := d.get(t, d.create(t).ID)
		t.Logf("c: %s %s (%s boot)", c.ID, c.IP, c.Boot)
		if c.IP != a.IP {
			t.Errorf("new sandbox after deleting all got %s; want the first address %s again", c.IP, a.IP)
		}
		tap := network.TapName(c.ID)
		if res := d.sh(t, c.ID, "nc -ll -p 8080 -e echo hi-from-c </dev/null >/dev/null 2>&1 &"); res.ExitCode != 0 {
			t.Fatalf("starting nc in %s: %+v", c.ID, res)
		}

		d.stop()
		if got := ns.taps(t); !slices.Equal(got, []string{tap}) {
			t.Errorf("taps while the daemon is down = %v; want [%s]", got, tap)
		}
		d.start()
		after := d.get(t, c.ID)
		if after.State != "running" || after.IP != c.IP || after.MAC != c.MAC || after.PID != c.PID {
			t.Errorf("after restart %+v; want running with ip %s, mac %s, pid %d", after, c.IP, c.MAC, c.PID)
		}
		if got := ns.taps(t); !slices.Contains(got, tap) {
			t.Errorf("taps after restart = %v; want %s among them", got, tap)
		}
		if out := ns.ip(t, "-d", "link", "show", tap); !strings.Contains(out, "master volant0") {
			t.Errorf("tap %s is no longer on volant0 after restart:\n%s", tap, out)
		}
		if leases := leasesOf(t, d.stateDir); len(leases) != 1 || leases[0].SandboxID != c.ID || leases[0].IP+"/24" != c.IP {
			t.Errorf("leases after restart = %+v; want one for %s at %s", leases, c.ID, c.IP)
		}
		res := d.sh(t, c.ID, "ip addr show eth0")
		if !strings.Contains(res.Stdout, "inet "+c.IP+" ") {
			t.Errorf("after restart, guest eth0:\n%+v", res)
		}
		// The guest's server survived the restart and is still reachable.
		if got, err := readFrom(ns, net.JoinHostPort(addrOf(t, c), "8080")); err != nil || got != "hi-from-c\n" {
			t.Errorf("from the namespace to the adopted guest: %q, %v", got, err)
		}
		d.delete(t, c.ID)
		if taps := ns.tapsSettled(t, nil); len(taps) != 0 {
			t.Errorf("taps left after deleting the adopted sandbox: %v", taps)
		}
	})
}

// addrOf returns a sandbox's address without its prefix length.
func addrOf(t *testing.T, sb bridgeSandbox) string {
	t.Helper()
	p, err := netip.ParsePrefix(sb.IP)
	if err != nil {
		t.Fatalf("sandbox %s has ip %q: %v", sb.ID, sb.IP, err)
	}
	return p.Addr().String()
}

// readFrom connects to addr from inside the namespace and reads until EOF.
func readFrom(ns *testNS, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The server was started in the background in the guest: it may not
	// listen yet, so a refused connection is tried again for a while.
	c, err := ns.dial(ctx, "tcp", addr)
	for err != nil && errors.Is(err, syscall.ECONNREFUSED) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		c, err = ns.dial(ctx, "tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// leasesOf reads the address leases from the state dir's database (the
// daemon may be running: the store is SQLite in WAL mode).
func leasesOf(t *testing.T, stateDir string) []store.Lease {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(stateDir, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leases, err := s.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return leases
}

// tapsSettled returns the namespace's taps (sorted) once they are want, or
// after two minutes: a template building in the background holds a tap of
// its own until it is done.
func (ns *testNS) tapsSettled(t *testing.T, want []string) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := ns.taps(t)
		slices.Sort(got)
		if slices.Equal(got, want) || len(got) == len(want) && want == nil || time.Now().After(deadline) {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
}
