package sandbox_test

import (
	"context"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// busy keeps every CPU busy until the test ends (at most ten minutes),
// like a host running a full test suite beside the daemon.
func busy(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	var hogs []*exec.Cmd
	for range runtime.NumCPU() {
		cmd := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		hogs = append(hogs, cmd)
	}
	t.Cleanup(func() {
		cancel()
		for _, cmd := range hogs {
			_ = cmd.Wait()
		}
	})
}

// TestTemplateUnderLoad builds a template while the host is busy and
// checks that sandboxes restored from it (from the warm pool and afresh)
// have, in the guest, the address and route they report.
func TestTemplateUnderLoad(t *testing.T) {
	busy(t) // before the manager: its template is built under load
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Templates, c.WarmPool = true, 1 })
	m := env.Manager
	ctx := context.Background()
	waitWarm(t, m, sandbox.Spec{})
	for i := range 2 { // the pooled guest, then a restore
		sb, err := m.Create(ctx, sandbox.Spec{})
		if err != nil {
			t.Fatal(err)
		}
		if sb.Boot != "restore" {
			t.Errorf("create %d booted %q, want restore", i, sb.Boot)
		}
		out := execOut(t, m, sb.ID, "sh", "-c", "ip addr show eth0; ip route")
		if !strings.Contains(out, "inet "+sb.IP+" ") {
			t.Errorf("%s reports ip %s, but the guest shows:\n%s", sb.ID, sb.IP, out)
		}
		if !strings.Contains(out, "default via "+sb.Gateway+" dev eth0") {
			t.Errorf("%s reports gateway %s, but the guest shows:\n%s", sb.ID, sb.Gateway, out)
		}
		if sb.MAC != "" && !strings.Contains(strings.ToLower(out), "link/ether "+strings.ToLower(sb.MAC)) {
			t.Errorf("%s reports mac %s, but the guest shows:\n%s", sb.ID, sb.MAC, out)
		}
	}
}
