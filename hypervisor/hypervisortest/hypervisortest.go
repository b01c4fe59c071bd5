// Package hypervisortest is the conformance suite every hypervisor.Driver
// passes: it boots a real guest whose init is the kestrel agent and checks
// the lifecycle, the agent channel, adoption by a second driver instance,
// snapshot and restore (for drivers that can) and clean-up.
package hypervisortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/kestrel/client"
	"golang.org/x/sys/unix"
)

// Guest is the guest image the suite boots: a kernel and an initramfs
// whose init is kestrel.
type Guest struct {
	Kernel    string
	Initramfs string
	// Cmdline holds extra kernel arguments, if the image needs any.
	Cmdline string
}

// AgentTimeout bounds how long the suite waits for the agent to answer
// after boot; generous, because guests may run under TCG on a busy host.
var AgentTimeout = 90 * time.Second

// Config returns a small VM config for guest in a fresh directory.
func Config(t testing.TB, guest Guest, id string) hypervisor.Config {
	return hypervisor.Config{
		ID:        id,
		Dir:       filepath.Join(t.TempDir(), id),
		VCPUs:     1,
		MemoryMiB: 256,
		Kernel:    guest.Kernel,
		Initramfs: guest.Initramfs,
		Cmdline:   guest.Cmdline,
		Net:       hypervisor.Net{Mode: hypervisor.NetNone},
	}
}

// Boot boots cfg with d and kills the VM when the test ends.
func Boot(t testing.TB, d hypervisor.Driver, cfg hypervisor.Config) hypervisor.VM {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vm, err := d.Boot(ctx, cfg)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	t.Cleanup(func() {
		if err := vm.Kill(); err != nil {
			t.Errorf("Kill in cleanup: %v", err)
		}
	})
	return vm
}

// WaitAgent waits until the agent answers GET /v1/health over vm's agent
// channel and returns the body.
func WaitAgent(t testing.TB, vm hypervisor.VM) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), AgentTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		body, err := Health(ctx, vm)
		if err == nil {
			return body
		}
		last = err
		select {
		case <-vm.Done():
			t.Fatalf("vm exited while waiting for the agent (%v); console:\n%s", err, consoleTail(vm))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("agent did not answer within %s: %v; console:\n%s", AgentTimeout, last, consoleTail(vm))
	return ""
}

// Health does one GET /v1/health over a fresh agent connection, bounded by
// a few seconds so that a guest not yet listening makes the caller retry.
func Health(ctx context.Context, vm hypervisor.VM) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := client.New(vm.DialAgent)
	defer c.CloseIdle()
	resp, err := c.Do(ctx, http.MethodGet, "/v1/health", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func consoleTail(vm hypervisor.VM) string {
	b, _ := os.ReadFile(vm.ConsoleLogPath())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Run runs the conformance suite. newDriver returns a new driver instance
// each call (two instances stand for a daemon before and after a restart).
func Run(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	t.Run("Capabilities", func(t *testing.T) { CheckCapabilities(t, newDriver, guest) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newDriver, guest) })
	t.Run("AttachAfterRestart", func(t *testing.T) { testAttach(t, newDriver, guest) })
	t.Run("DoneOnVMMDeath", func(t *testing.T) { testDone(t, newDriver, guest) })
	t.Run("SnapshotRestore", func(t *testing.T) { testSnapshotRestore(t, newDriver, guest) })
	t.Run("AttachMissing", func(t *testing.T) {
		_, err := newDriver(t).Attach(context.Background(), filepath.Join(t.TempDir(), "nothing"))
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Attach of an empty dir: got %v, want ErrNotFound", err)
		}
	})
	t.Run("BootInvalid", func(t *testing.T) {
		cfg := Config(t, guest, "bad id!")
		_, err := newDriver(t).Boot(context.Background(), cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Boot with a bad id: got %v, want ErrInvalidArgument", err)
		}
		if _, err := os.Stat(cfg.Dir); err == nil {
			t.Errorf("failed Boot left %s behind", cfg.Dir)
		}
	})
}

func testLifecycle(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	d := newDriver(t)
	cfg := Config(t, guest, "conf-life")
	vm := Boot(t, d, cfg)
	ctx := context.Background()
	if got := vm.ID(); got != cfg.ID {
		t.Errorf("ID: got %q, want %q", got, cfg.ID)
	}
	if got := vm.Dir(); got != cfg.Dir {
		t.Errorf("Dir: got %q, want %q", got, cfg.Dir)
	}
	WaitAgent(t, vm)
	if st, err := vm.State(ctx); err != nil || st != hypervisor.StateRunning {
		t.Errorf("State: got %v, %v; want running", st, err)
	}
	if p, ok := vm.(hypervisor.Pauser); ok && d.Capabilities().Pause {
		if err := p.Pause(ctx); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		if st, err := vm.State(ctx); err != nil || st != hypervisor.StatePaused {
			t.Errorf("State after Pause: got %v, %v; want paused", st, err)
		}
		if err := p.Resume(ctx); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if st, err := vm.State(ctx); err != nil || st != hypervisor.StateRunning {
			t.Errorf("State after Resume: got %v, %v; want running", st, err)
		}
	}
	// Several agent connections at once.
	errc := make(chan error, 4)
	for range 4 {
		go func() { _, err := Health(ctx, vm); errc <- err }()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Errorf("concurrent health: %v", err)
		}
	}
	if b, err := os.ReadFile(vm.ConsoleLogPath()); err != nil || len(b) == 0 {
		t.Errorf("console log %s: %d bytes, %v", vm.ConsoleLogPath(), len(b), err)
	}

	pid := vm.PID()
	if err := vm.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	select {
	case <-vm.Done():
	default:
		t.Error("Done not closed after Kill")
	}
	checkGone(t, pid, cfg.Dir)
}

func testAttach(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	cfg := Config(t, guest, "conf-attach")
	vm1 := Boot(t, newDriver(t), cfg)
	WaitAgent(t, vm1)
	// The daemon "restarts": the first instance lets go, a second adopts.
	if err := vm1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vm2, err := newDriver(t).Attach(ctx, cfg.Dir)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if vm2.PID() != vm1.PID() || vm2.ID() != cfg.ID {
		t.Errorf("Attach: got pid %d id %q, want %d %q", vm2.PID(), vm2.ID(), vm1.PID(), cfg.ID)
	}
	if st, err := vm2.State(ctx); err != nil || st != hypervisor.StateRunning {
		t.Errorf("State of adopted vm: got %v, %v", st, err)
	}
	WaitAgent(t, vm2)
	pid := vm2.PID()
	if err := vm2.Kill(); err != nil {
		t.Fatalf("Kill of adopted vm: %v", err)
	}
	checkGone(t, pid, cfg.Dir)
	if _, err := newDriver(t).Attach(ctx, cfg.Dir); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Attach after Kill: got %v, want ErrNotFound", err)
	}
}

func testDone(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, guest Guest) {
	cfg := Config(t, guest, "conf-done")
	booted := Boot(t, newDriver(t), cfg)
	// Adopt it from a second instance: Done must work for a VMM the
	// driver did not start. A VMM's API socket serves one client at a
	// time, so the first instance lets go first.
	booted.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vm, err := newDriver(t).Attach(ctx, cfg.Dir)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	defer vm.Kill()
	if err := unix.Kill(vm.PID(), unix.SIGKILL); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-vm.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed 30s after kill -9 of the VMM")
	}
	if st, err := vm.State(ctx); err != nil || st != hypervisor.StateStopped {
		t.Errorf("State after death: got %v, %v; want stopped", st, err)
	}
}

// checkGone fails unless pid has exited and dir holds nothing.
func checkGone(t *testing.T, pid int, dir string) {
	t.Helper()
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !isZombie(b) {
		t.Errorf("vmm %d still runs after Kill", pid)
	}
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("Kill left %v in %s", names, dir)
	}
}

// isZombie reads the state field of /proc/PID/stat. An exited VMM adopted
// from another parent may stay a zombie until that parent reaps it.
func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' && i+2 < len(stat) {
			return stat[i+2] == 'Z'
		}
	}
	return false
}
