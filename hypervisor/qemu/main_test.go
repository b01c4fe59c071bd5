package qemu

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/internal/testguest"
)

// testGuest is the guest image the real-boot tests use: kestrel and the
// image built from this tree by internal/testguest (cached across runs).
// skipUnlessBootable sets it, or skips when guests cannot boot here.
var testGuest hypervisortest.Guest

func skipUnlessBootable(t testing.TB) {
	t.Helper()
	img := testguest.Image(t)
	testGuest = hypervisortest.Guest{Kernel: img.Kernel, Initramfs: img.Initramfs}
}

// testStateDir is shared by all test drivers, so the KVM probe runs once
// per guest kernel and host, not once per test.
func testStateDir() string { return filepath.Join(os.TempDir(), "volant-test-qemu-state") }

func newTestDriver(t testing.TB) *Driver {
	t.Helper()
	d, err := New(Options{StateDir: testStateDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestConformance(t *testing.T) {
	skipUnlessBootable(t)
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver { return newTestDriver(t) }, testGuest)
}
