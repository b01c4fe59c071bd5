package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"golang.org/x/sys/unix"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/kestrel/client"
	"github.com/volant-sh/volant/kestrel/reaper"
	"github.com/volant-sh/volant/kestrel/system"
	"github.com/volant-sh/volant/kestrel/transport"
)

// fixture is an agent served over yamux on a socketpair, as the QEMU
// host side would reach it, with hooks recording poweroff and reconfigure.
type fixture struct {
	c *client.Client

	mu    sync.Mutex
	plans []system.Plan
	// shown is the interface the fake guest reports after a plan; nil
	// reports what the plan asked for.
	shown    *client.NetState
	poweroff chan struct{}
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	fx := &fixture{poweroff: make(chan struct{}, 1)}
	r := reaper.New(false)
	a, err := New(Config{
		Version:  "test",
		Reaper:   r,
		Poweroff: func() { fx.poweroff <- struct{}{} },
		ApplyReconfigure: func(_ context.Context, p system.Plan) (*client.NetState, error) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.plans = append(fx.plans, p)
			if fx.shown != nil {
				return fx.shown, nil
			}
			if !p.Net.Addr.IsValid() && !p.Net.Gateway.IsValid() && p.Net.MAC == nil {
				return nil, nil
			}
			st := &client.NetState{Link: "eth0", MAC: p.Net.MAC.String(), Up: true}
			if p.Net.Addr.IsValid() {
				st.Addrs = []string{p.Net.Addr.String()}
			}
			if p.Net.Gateway.IsValid() {
				st.Gateway = p.Net.Gateway.String()
			}
			return st, nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	guest := transport.NewSerialListener(os.NewFile(uintptr(fds[0]), "guest"), transport.SerialConfig{})
	a.Serve(guest)
	hostFile := os.NewFile(uintptr(fds[1]), "host")
	hostConn, err := net.FileConn(hostFile)
	hostFile.Close()
	if err != nil {
		tb.Fatal(err)
	}
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	gctx, gcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer gcancel()
	rest, err := client.GreetSerial(gctx, hostConn, 30*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	sess, err := yamux.Client(client.WithPrefix(hostConn, rest), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fx.c = client.New(func(ctx context.Context) (net.Conn, error) { return sess.Open() })
	tb.Cleanup(func() {
		fx.c.CloseIdle()
		sess.Close()
		a.Close()
		r.Close()
	})
	return fx
}

func TestHealthAndWaitReady(t *testing.T) {
	fx := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := fx.c.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != "test" || h.Kernel == "" || h.MemTotal == 0 {
		t.Errorf("health = %+v", h)
	}
}

func TestReconfigureAndPoweroff(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := fx.c.Reconfigure(ctx, client.ReconfigureRequest{IPCIDR: "10.0.0.9/24", Hostname: "clone"}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	if len(fx.plans) != 1 || fx.plans[0].Net.Hostname != "clone" || fx.plans[0].Net.Addr.String() != "10.0.0.9/24" {
		t.Errorf("applied plans = %+v", fx.plans)
	}
	fx.mu.Unlock()
	_, err := fx.c.Reconfigure(ctx, client.ReconfigureRequest{IPCIDR: "bogus"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad reconfigure: error = %v, want ErrInvalidArgument", err)
	}
	if err := fx.c.Poweroff(ctx); err != nil {
		t.Fatal(err)
	}
	<-fx.poweroff
}

// TestReconfigureUnconfirmed: an answer that does not show the identity
// asked for is an error, so the host never reports an address the guest
// does not have.
func TestReconfigureUnconfirmed(t *testing.T) {
	req := client.ReconfigureRequest{IPCIDR: "10.0.0.9/24", Gateway: "10.0.0.1", MAC: "52:54:00:00:00:09"}
	tests := []struct {
		name  string
		shown *client.NetState
		want  string
	}{
		{"no address", &client.NetState{Link: "eth0", MAC: "52:54:00:00:00:09", Up: true, Gateway: "10.0.0.1"}, "addresses [], not 10.0.0.9/24"},
		{"no route", &client.NetState{Link: "eth0", MAC: "52:54:00:00:00:09", Up: true, Addrs: []string{"10.0.0.9/24"}}, `default route via "", not 10.0.0.1`},
		{"old mac", &client.NetState{Link: "eth0", MAC: "52:54:01:aa:bb:cc", Up: true, Addrs: []string{"10.0.0.9/24"}, Gateway: "10.0.0.1"}, "mac 52:54:01:aa:bb:cc, not 52:54:00:00:00:09"},
		{"down", &client.NetState{Link: "eth0", MAC: "52:54:00:00:00:09", Addrs: []string{"10.0.0.9/24"}, Gateway: "10.0.0.1"}, "link down"},
		{"silent", &client.NetState{}, "does not have its identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.shown = tt.shown
			_, err := fx.c.Reconfigure(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Reconfigure = %v; want an error saying %q", err, tt.want)
			}
		})
	}
	// A guest that answers without any interface state (an agent that
	// does not read it back) is not taken at its word either.
	if err := req.Confirm(nil); err == nil {
		t.Error("Confirm(nil) = nil; want an error")
	}
}

func TestPTYEchoAndResize(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	s, err := fx.c.PTY(ctx, client.PTYRequest{Argv: []string{"/bin/sh"}, Rows: 30, Cols: 100, Env: []string{"PS1=$ "}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	readUntil := func(marker string) {
		t.Helper()
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), marker) {
			n, err := s.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				t.Fatalf("reading until %q: %v (got %q)", marker, err, out.String())
			}
		}
	}
	if _, err := s.Write([]byte("stty size; echo mark-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	readUntil("mark-42")
	if !strings.Contains(out.String(), "30 100") {
		t.Errorf("stty size output %q, want 30 100", out.String())
	}
	if err := s.Resize(ctx, 50, 132); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	s.Write([]byte("stty size; echo mark-$((40+3))\n"))
	readUntil("mark-43")
	if !strings.Contains(out.String(), "50 132") {
		t.Errorf("after resize, stty size output %q, want 50 132", out.String())
	}
	s.Write([]byte("exit 5\n"))
	exit, err := s.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if exit.ExitCode != 5 {
		t.Errorf("exit = %+v, want code 5", exit)
	}
}

func TestPTYSignal(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	s, err := fx.c.PTY(ctx, client.PTYRequest{Argv: []string{"sleep", "100"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Signal(ctx, "INT"); err != nil {
		t.Fatal(err)
	}
	exit, err := s.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if exit.Signal != "INT" {
		t.Errorf("exit = %+v, want killed by INT", exit)
	}
	if _, err := fx.c.PTY(ctx, client.PTYRequest{Argv: []string{"no-such-command-xyz"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("pty of unknown command: error = %v, want ErrNotFound", err)
	}
}

func TestExecOverYamux(t *testing.T) {
	fx := newFixture(t)
	res, err := fx.c.Exec(context.Background(), client.ExecRequest{Argv: []string{"echo", "over", "yamux"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "over yamux\n" {
		t.Errorf("stdout = %q", got)
	}
}

// BenchmarkExecTrue measures an exec round trip of /bin/true over the
// yamux transport, in process.
func BenchmarkExecTrue(b *testing.B) {
	fx := newFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		res, err := fx.c.Exec(ctx, client.ExecRequest{Argv: []string{"/bin/true"}}, nil)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("exec: %v %+v", err, res)
		}
	}
}
