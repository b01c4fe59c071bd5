package image_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// TestGuestWget boots a default sandbox and fetches a page with wget from
// a server on the host's loopback, reached through QEMU's user-mode
// gateway (10.0.2.2). Debian's busybox wget died with SIGSEGV on any -T
// (image/wget.go); a timeout against a server that never answers must end
// wget with an error, not a crash.
func TestGuestWget(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest")
	}
	env := sandboxtest.New(t, nil)
	serve := func(h http.Handler) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().(*net.TCPAddr).Port
	}
	port := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the host\n")
	}))
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	silent := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))

	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{Network: sandbox.NetworkUser})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://10.0.2.2:%d/", port)
	for _, tt := range []struct {
		cmd    []string
		stdout string
		fail   bool
	}{
		{cmd: []string{"wget", "-qO-", url}, stdout: "hello from the host\n"},
		{cmd: []string{"wget", "-T", "30", "-qO-", url}, stdout: "hello from the host\n"},
		{cmd: []string{"wget", "--timeout=30", "-qO-", url}, stdout: "hello from the host\n"},
		{cmd: []string{"wget", "-T", "2", "-qO-", fmt.Sprintf("http://10.0.2.2:%d/", silent)}, fail: true},
	} {
		res, err := env.Manager.Exec(ctx, sb.ID, sandbox.ExecRequest{Cmd: tt.cmd, Timeout: 5 * time.Minute}, nil)
		if err != nil {
			t.Fatalf("%v: %v", tt.cmd, err)
		}
		if res.Signal == "SEGV" || res.ExitCode == 139 {
			t.Errorf("%v: killed by %q (exit %d); stderr %s", tt.cmd, res.Signal, res.ExitCode, res.Stderr)
			continue
		}
		if tt.fail {
			// busybox timeout ends wget with SIGTERM.
			if res.ExitCode == 0 && res.Signal == "" {
				t.Errorf("%v: exit 0 from a server that never answers", tt.cmd)
			}
			continue
		}
		if res.ExitCode != 0 || res.Signal != "" || res.Stdout != tt.stdout {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tt.cmd, res.ExitCode, res.Stdout, strings.TrimSpace(res.Stderr), tt.stdout)
		}
	}
}
