// Package sandboxtest builds a real sandbox.Manager for tests: a SQLite
// store, the event bus, a hypervisor driver (QEMU, or the one named by
// VOLANT_TEST_DRIVER) and the guest image built from this tree. Guests use
// user-mode networking where the driver has it (else none), so no host
// network is touched.
package sandboxtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/volant-sh/volant/events"
	"github.com/volant-sh/volant/hypervisor/drivers"
	"github.com/volant-sh/volant/internal/logging"
	"github.com/volant-sh/volant/internal/testguest"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/store"
)

// Env is a manager and what it is built on.
type Env struct {
	Manager  *sandbox.Manager
	Store    *store.Store
	Bus      *events.Bus
	StateDir string
	Config   sandbox.Config
}

// New builds a Manager over a fresh state directory; everything is closed
// and every sandbox deleted in t.Cleanup. It skips when guests cannot boot
// here (see testguest.Skip). mod, if not nil, adjusts the config.
func New(t testing.TB, mod func(*sandbox.Config)) *Env {
	t.Helper()
	img := testguest.Image(t)
	name := os.Getenv("VOLANT_TEST_DRIVER")
	if name == "" {
		name = "qemu"
	}
	// VOLANT_TEST_DRIVER_LOG=debug shows the driver's own log on stderr.
	dlog := logging.Discard()
	if os.Getenv("VOLANT_TEST_DRIVER_LOG") == "debug" {
		dlog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	driver, _, err := drivers.Open(context.Background(), name, drivers.Options{StateDir: testguest.CacheDir(), Logger: dlog})
	if err != nil {
		t.Fatal(err)
	}
	network := sandbox.NetworkUser
	if !driver.Capabilities().UserNet {
		network = sandbox.NetworkNone
	}
	// Unix socket paths are limited to 108 bytes: keep the state dir short.
	dir, err := os.MkdirTemp("", "vsb")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "volant.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := events.New(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := sandbox.Config{
		StateDir: dir, Store: st, Driver: driver, Events: bus,
		Runtimes: []sandbox.Runtime{{Name: sandbox.DefaultRuntime, Kernel: img.Kernel, Initramfs: img.Initramfs, ImageDigest: img.Digest}},
		Defaults: sandbox.Defaults{VCPUs: 1, MemoryMiB: 256, Network: network},
		Budget:   sandbox.Capacity{VCPUs: 64, MemoryMiB: 16 * 1024},
		Logger:   logging.Discard(),
	}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		cfg.MemoryDir = filepath.Join("/dev/shm", filepath.Base(dir))
	}
	if mod != nil {
		mod(&cfg)
	}
	m, err := sandbox.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Manager: m, Store: st, Bus: bus, StateDir: dir, Config: cfg}
	t.Cleanup(func() {
		env.DeleteAll(t)
		_ = m.Close()
		_ = bus.Close()
		_ = st.Close()
		_ = os.RemoveAll(dir)
		if cfg.MemoryDir != "" {
			_ = os.RemoveAll(cfg.MemoryDir)
		}
	})
	return env
}

// DeleteAll deletes every sandbox of the manager.
func (e *Env) DeleteAll(t testing.TB) {
	ctx := context.Background()
	page, err := e.Manager.List(ctx, sandbox.ListOptions{Limit: 1000})
	if err != nil {
		t.Logf("listing sandboxes for cleanup: %v", err)
		return
	}
	for _, sb := range page.Items {
		if err := e.Manager.Delete(ctx, sb.ID); err != nil {
			t.Logf("deleting %s: %v", sb.ID, err)
		}
	}
}
