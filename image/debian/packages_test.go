package debian

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci"
)

func needMmdebstrap(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Debian userland with mmdebstrap (a minute or more)")
	}
	if os.Geteuid() != 0 {
		t.Skip("mmdebstrap --mode=root and the conversion need root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
	}
}

// TestBuildSmallNamed builds a tiny package set under a name of its own,
// reporting mmdebstrap's lines, and finds it cached the second time.
func TestBuildSmallNamed(t *testing.T) {
	needMmdebstrap(t)
	ctx := context.Background()
	store, err := oci.Open(oci.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	opts := Options{CacheDir: cacheDir(), Packages: []string{"less"}, ImageName: "debian-small",
		Progress: func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }}
	os.Remove(filepath.Join(cacheDir(), "debian-"+DefaultSuite+"-"+opts.Key()+".tar")) // measure a real build
	start := time.Now()
	img, err := Build(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built minbase + less in %s: %d MiB ext4", time.Since(start).Round(time.Second), img.RootFSSize>>20)
	if len(lines) == 0 {
		t.Errorf("no progress lines")
	}
	got, err := store.Get(ctx, "debian-small")
	if err != nil || got.Digest != img.Digest {
		t.Fatalf("Get(debian-small) = %v, %v; want the built image", got, err)
	}
	start = time.Now()
	if _, err := BuildTar(ctx, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("cached: %s", time.Since(start))
}

// TestWithPackagesUnknown: a package Debian does not have fails the
// build with mmdebstrap's reason, as invalid input, and keeps nothing.
func TestWithPackagesUnknown(t *testing.T) {
	needMmdebstrap(t)
	store, err := oci.Open(oci.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = WithPackages(context.Background(), store, dir, []string{"volant-no-such-package"}, nil, nil)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "volant-no-such-package") {
		t.Fatalf("WithPackages = %v, want invalid naming the package", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left in the cache dir: %v", left)
	}
	if imgs, _ := store.List(context.Background()); len(imgs) != 0 {
		t.Errorf("images left: %v", imgs)
	}
}
