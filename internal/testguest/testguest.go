// Package testguest gives tests that boot real guests what they need: a
// static kestrel built from this tree and the guest image built from it.
// It imports no driver, so driver packages' own tests can use it. Everything is built once per test binary and cached across
// runs under the OS temp dir.
package testguest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/internal/filehash"

	"github.com/volant-sh/volant/image"
)

var (
	once    sync.Once
	img     *image.Image
	kestrel string
	skip    string
	failure error
)

// CacheDir holds the built kestrel, images and the driver's probe cache.
func CacheDir() string { return filepath.Join(os.TempDir(), "volant-test-cache") }

// ShortReason is the skip message of every guest-booting test under
// `go test -short` (`make test-short`), which boots no guest at all.
const ShortReason = "-short: this test boots a real guest under QEMU (run `make test` for the full suite)"

// Skip skips tb with a clear reason when real guests cannot boot here (no
// QEMU, not root) or must not (`go test -short`). The project's test set-up
// installs QEMU, so on a prepared machine the full suite skips nothing.
func Skip(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip(ShortReason)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		tb.Skip("qemu-system-x86_64 is not installed (run scripts/deps.sh or apt-get install qemu-system-x86)")
	}
	if os.Geteuid() != 0 {
		tb.Skip("booting guests here needs root (the project's test command runs as root)")
	}
}

// Image returns the guest image, building kestrel and the image on first use.
func Image(tb testing.TB) *image.Image {
	tb.Helper()
	Skip(tb)
	once.Do(build)
	if skip != "" {
		tb.Skip(skip)
	}
	if failure != nil {
		tb.Fatalf("building the test guest: %v", failure)
	}
	return img
}

// KestrelPath returns the static kestrel binary the image was built with.
func KestrelPath(tb testing.TB) string {
	Image(tb)
	return kestrel
}

func build() {
	dir := CacheDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		failure = err
		return
	}
	// Each test process builds its own kestrel (several test binaries run
	// at once, maybe from different trees) and files it under its hash, so
	// equal builds share one file and one image.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		failure = err
		return
	}
	defer os.RemoveAll(tmp)
	root, err := moduleRoot()
	if err != nil {
		failure = err
		return
	}
	built := filepath.Join(tmp, "kestrel")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", built, "./cmd/kestrel")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		failure = fmt.Errorf("go build ./cmd/kestrel: %v: %s", err, out)
		return
	}
	sum, err := filehash.SHA256(built)
	if err != nil {
		failure = err
		return
	}
	kestrel = filepath.Join(dir, "kestrel-"+sum[:16])
	if err := os.Rename(built, kestrel); err != nil {
		failure = err
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	img, failure = image.Build(ctx, image.Options{Dir: filepath.Join(dir, "images"), KestrelPath: kestrel})
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	p := string(out)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	if p == "" || p == os.DevNull {
		return "", fmt.Errorf("not inside the volant module")
	}
	return filepath.Dir(p), nil
}
