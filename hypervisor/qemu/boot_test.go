package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
)

func TestConsoleLog(t *testing.T) {
	skipUnlessBootable(t)
	d := newTestDriver(t)
	cfg := hypervisortest.Config(t, testGuest, "console")
	cfg.ConsoleLogBytes = 8 << 10
	vm := hypervisortest.Boot(t, d, cfg)
	hypervisortest.WaitAgent(t, vm)
	b, err := os.ReadFile(vm.ConsoleLogPath())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) > cfg.ConsoleLogBytes {
		t.Errorf("console log has %d bytes, limit %d", len(b), cfg.ConsoleLogBytes)
	}
	// The kernel's boot log is longer than 8 KiB, so its first line is
	// gone and its last lines remain.
	if strings.Contains(string(b), "Linux version") {
		t.Error("console log still holds the first boot line; it was not trimmed")
	}
	if !strings.Contains(string(b), "Run /init as init process") {
		t.Errorf("console log lacks the end of the boot log:\n%s", b)
	}
}

func TestConsoleLogFromFirstLine(t *testing.T) {
	skipUnlessBootable(t)
	vm := hypervisortest.Boot(t, newTestDriver(t), hypervisortest.Config(t, testGuest, "console-full"))
	hypervisortest.WaitAgent(t, vm)
	b, _ := os.ReadFile(vm.ConsoleLogPath())
	// QEMU starts paused until the console is connected: nothing is lost.
	if !strings.HasPrefix(strings.TrimLeft(string(b), "\x00\r\n "), "[    0.000000] Linux version") {
		t.Errorf("console log does not start with the kernel's first line: %q", b[:min(len(b), 120)])
	}
}

func TestUserNetBoots(t *testing.T) {
	skipUnlessBootable(t)
	cfg := hypervisortest.Config(t, testGuest, "usernet")
	cfg.Net = hypervisor.Net{Mode: hypervisor.NetUser}
	vm := hypervisortest.Boot(t, newTestDriver(t), cfg)
	hypervisortest.WaitAgent(t, vm)
	b, _ := os.ReadFile(filepath.Join(vm.Dir(), "qemu.log"))
	if len(strings.TrimSpace(string(b))) > 0 {
		t.Logf("qemu said: %s", b)
	}
}

func TestMemoryFileBoots(t *testing.T) {
	skipUnlessBootable(t)
	cfg := hypervisortest.Config(t, testGuest, "memfile")
	cfg.MemoryFile = filepath.Join(t.TempDir(), "mem")
	vm := hypervisortest.Boot(t, newTestDriver(t), cfg)
	hypervisortest.WaitAgent(t, vm)
	st, err := os.Stat(cfg.MemoryFile)
	if err != nil || st.Size() != int64(cfg.MemoryMiB)<<20 {
		t.Errorf("memory file: %v, %v", st, err)
	}
}

// TestAccelProbe runs a real KVM probe (into a fresh state dir, so it is
// not answered from the cache) and checks the result is cached.
func TestAccelProbe(t *testing.T) {
	skipUnlessBootable(t)
	state := t.TempDir()
	d, err := New(Options{StateDir: state, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	accel, reason, err := d.ProbeAccel(ctx, testGuest.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accel %s: %s", accel, reason)
	if accel != AccelKVM && accel != AccelTCG || reason == "" {
		t.Errorf("ProbeAccel: got %q, %q", accel, reason)
	}
	if caps := d.Capabilities(); caps.Accel != accel || caps.AccelReason != reason {
		t.Errorf("Capabilities: got %s (%s), want %s (%s)", caps.Accel, caps.AccelReason, accel, reason)
	}
	if kvmOK, _ := kvmUsable(); kvmOK {
		d2, _ := New(Options{StateDir: state, Logger: testLogger(t)})
		accel2, reason2, err := d2.ProbeAccel(ctx, testGuest.Kernel)
		if err != nil || accel2 != accel || !strings.HasSuffix(reason2, "(cached)") {
			t.Errorf("second driver: got %s (%s), %v; want %s from the cache", accel2, reason2, err, accel)
		}
	}
}

// BenchmarkBootToAgent measures Boot until the agent answers /v1/health.
// VOLANT_BENCH_CMDLINE adds kernel arguments (for example "quiet"), to
// measure their effect.
func BenchmarkBootToAgent(b *testing.B) {
	skipUnlessBootable(b)
	d := newTestDriver(b)
	for i := 0; b.Loop(); i++ {
		cfg := hypervisortest.Config(b, testGuest, "bench")
		cfg.Cmdline = os.Getenv("VOLANT_BENCH_CMDLINE")
		vm := hypervisortest.Boot(b, d, cfg)
		hypervisortest.WaitAgent(b, vm)
		b.StopTimer()
		vm.Kill()
		b.StartTimer()
	}
}

func TestBootFailureCleansUp(t *testing.T) {
	skipUnlessBootable(t)
	cfg := hypervisortest.Config(t, testGuest, "fails")
	cfg.Disks = []hypervisor.Disk{{Path: "/nonexistent/disk.raw", Format: "raw"}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := newTestDriver(t).Boot(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/disk.raw") {
		t.Fatalf("Boot: got %v, want QEMU's complaint about the disk", err)
	}
	if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
		t.Errorf("failed Boot left %s behind (%v)", cfg.Dir, err)
	}
}

func TestShutdownKillsAfterContext(t *testing.T) {
	skipUnlessBootable(t)
	cfg := hypervisortest.Config(t, testGuest, "shutdown")
	vm := hypervisortest.Boot(t, newTestDriver(t), cfg)
	hypervisortest.WaitAgent(t, vm)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := vm.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-vm.Done():
	default:
		t.Error("Done not closed after Shutdown")
	}
	if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
		t.Errorf("Shutdown left %s behind", cfg.Dir)
	}
}
