package qemu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/volant-sh/volant/hypervisor"
	"github.com/volant-sh/volant/hypervisor/hypervisortest"
	"github.com/volant-sh/volant/image"
)

// testGuest is the guest image the real-boot tests use, built once in
// TestMain (cached under os.TempDir()/volant-test-images); testSkip says
// why real boots are skipped when a prerequisite is absent.
var (
	testGuest hypervisortest.Guest
	testSkip  string
	testAgent string // which agent binary the image holds
)

func TestMain(m *testing.M) {
	code := func() int {
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			testSkip = "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
			return m.Run()
		}
		if err := buildGuest(); err != nil {
			fmt.Fprintf(os.Stderr, "building the test guest image: %v\n", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// buildGuest builds kestrel (static) and the guest image with image.Build.
// Until cmd/kestrel exists it falls back to internal/fakekestrel.
func buildGuest() error {
	tmp, err := os.MkdirTemp("", "volant-qemu-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "kestrel")
	build := func(pkg string) error {
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build %s: %v: %s", pkg, err, out)
		}
		return nil
	}
	testAgent = "kestrel"
	if err := build("github.com/volant-sh/volant/cmd/kestrel"); err != nil {
		testAgent = "fakekestrel"
		fmt.Fprintf(os.Stderr, "cmd/kestrel does not build yet, using internal/fakekestrel: %v\n", err)
		if err := build("github.com/volant-sh/volant/hypervisor/qemu/internal/fakekestrel"); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img, err := image.Build(ctx, image.Options{
		Dir:         filepath.Join(os.TempDir(), "volant-test-images"),
		KestrelPath: bin,
	})
	if err != nil {
		return err
	}
	testGuest = hypervisortest.Guest{Kernel: img.Kernel, Initramfs: img.Initramfs}
	return nil
}

func skipUnlessBootable(t testing.TB) {
	t.Helper()
	if testSkip != "" {
		t.Skip(testSkip)
	}
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
	t.Logf("guest agent: %s", testAgent)
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver { return newTestDriver(t) }, testGuest)
}
