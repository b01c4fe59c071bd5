package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/volant-sh/volant/image/cpio"
)

// shared holds what several tests reuse: the kernel package and the test
// init, fetched and built once per test binary.
var shared struct {
	dir string

	debOnce sync.Once
	deb     string
	debErr  error

	initOnce sync.Once
	init     string
	initErr  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "volant-image-test-")
	if err != nil {
		panic(err)
	}
	shared.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// kernelDeb returns a Debian cloud kernel package: $VOLANT_KERNEL_DEB, or
// one downloaded with apt. It skips the test on hosts without apt.
func kernelDeb(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("VOLANT_KERNEL_DEB"); p != "" {
		return p
	}
	for _, tool := range []string{aptCacheCmd, aptGetCmd, dpkgDebCmd} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s not installed (not a Debian host) and VOLANT_KERNEL_DEB unset", tool)
		}
	}
	shared.debOnce.Do(func() {
		shared.deb, shared.debErr = resolveKernelDeb(context.Background(), filepath.Join(shared.dir, "debs"), discard())
	})
	if shared.debErr != nil {
		tb.Fatalf("getting the kernel package: %v", shared.debErr)
	}
	return shared.deb
}

// testInit builds testdata/testinit as a static binary.
func testInit(tb testing.TB) string {
	tb.Helper()
	shared.initOnce.Do(func() {
		out := filepath.Join(shared.dir, "testinit")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/testinit")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			shared.initErr = errors.New(string(b))
			return
		}
		shared.init = out
	})
	if shared.initErr != nil {
		tb.Fatalf("building the test init: %v", shared.initErr)
	}
	return shared.init
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// readArchive returns the entries of an uncompressed initramfs by name.
func readArchive(t *testing.T, p string) map[string]*cpio.Entry {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(bytes.NewReader(b))
	out := map[string]*cpio.Entry{}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		out[e.Name] = e
	}
}
