package debian

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/image/oci/ocitest"
)

// cacheDir keeps the userland tarball across test runs on one machine,
// like internal/testguest's cache: it takes a minute or more to build.
func cacheDir() string { return filepath.Join(os.TempDir(), "volant-test-cache", "debian") }

func TestKey(t *testing.T) {
	a := Options{Packages: []string{"git", "curl"}}.Key()
	b := Options{Packages: []string{"curl", "git"}}.Key()
	c := Options{Packages: []string{"curl"}}.Key()
	d := Options{Suite: "trixie", Packages: []string{"curl", "git"}}.Key()
	if a != b || a == c || a == d {
		t.Errorf("keys: %s %s %s %s: want order not to matter, packages and suite to", a, b, c, d)
	}
}

// TestBuild builds the built-in image (once per machine) and checks that
// its ext4 has what an agent needs.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Debian userland with mmdebstrap (a minute or more)")
	}
	if os.Geteuid() != 0 {
		t.Skip("mmdebstrap --mode=root and the conversion need root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
	}
	ctx := context.Background()
	start := time.Now()
	tar, err := BuildTar(ctx, Options{CacheDir: cacheDir(), Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(tar)
	t.Logf("userland tarball %s: %.0f MiB (%s, cached or built)", filepath.Base(tar), float64(st.Size())/(1<<20), time.Since(start).Round(time.Second))

	store, err := oci.Open(oci.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	img, err := Build(ctx, store, Options{CacheDir: cacheDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import + convert: %.0f MiB layer -> %.0f MiB ext4 in %s", float64(img.Size)/(1<<20), float64(img.RootFSSize)/(1<<20), time.Since(start).Round(100*time.Millisecond))
	if len(img.Layers) != 1 || img.Names[0] != Name {
		t.Errorf("image %+v: want one layer, named %s", img, Name)
	}
	rf, err := store.RootFS(ctx, Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/usr/bin/python3", "/usr/bin/pip3", "/usr/bin/git", "/usr/bin/curl", "/etc/ssl/certs/ca-certificates.crt", "/usr/lib/python3.11/venv"} {
		out, err := ocitest.Debugfs(rf.Path, "stat "+p)
		if err != nil || strings.Contains(out, "File not found") {
			t.Errorf("%s missing from the image: %v %s", p, err, out)
		}
	}
	if !strings.Contains(strings.Join(rf.Env, " "), "PATH=") || rf.WorkingDir != "/root" {
		t.Errorf("config: env %v, workdir %q", rf.Env, rf.WorkingDir)
	}
	// A second build reuses everything.
	again, err := Build(ctx, store, Options{CacheDir: cacheDir()})
	if err != nil || again.Digest != img.Digest {
		t.Errorf("rebuild: %v, digest %s, want %s", err, again.Digest, img.Digest)
	}
}

// BenchmarkPullDebian pulls the built-in image from a registry on
// loopback into an empty store and converts it: the figure of a pull of a
// typical agent image, without the network.
func BenchmarkPullDebian(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("mmdebstrap and the conversion need root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		b.Skip("mmdebstrap is not installed")
	}
	ctx := context.Background()
	opts := Options{CacheDir: cacheDir()}
	tar, err := BuildTar(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	img, err := Image(tar, opts)
	if err != nil {
		b.Fatal(err)
	}
	reg := ocitest.NewRegistry(b)
	ref := reg.Ref("volant/debian:bookworm")
	reg.Push(b, ref, img)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		store, err := oci.Open(oci.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		at := map[string]time.Time{}
		got, err := store.Pull(ctx, ref, oci.PullOptions{Progress: func(p oci.Progress) {
			if _, ok := at[p.Phase]; !ok {
				at[p.Phase] = time.Now()
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(at[oci.PhaseConvert].Sub(start).Seconds(), "s-fetch")
		b.ReportMetric(at[oci.PhaseMkfs].Sub(at[oci.PhaseConvert]).Seconds(), "s-unpack")
		b.ReportMetric(at[oci.PhaseDone].Sub(at[oci.PhaseMkfs]).Seconds(), "s-mkfs")
		b.ReportMetric(float64(got.Size)/(1<<20), "MiB-pulled")
		b.ReportMetric(float64(got.RootFSSize)/(1<<20), "MiB-ext4")
		b.ReportMetric(time.Since(start).Seconds(), "s/pull")
	}
}
