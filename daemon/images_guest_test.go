// The in-guest checks of OCI images: sandboxes created from an image
// pulled from a registry served in the test, and from the built-in debian
// image.

package daemon_test

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/volant-sh/volant/image/debian"
	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/image/oci/ocitest"
	"github.com/volant-sh/volant/internal/testguest"
)

type execJSON struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exit_code"`
}

func (d *volantd) exec(t *testing.T, id string, cmd ...string) execJSON {
	t.Helper()
	var res execJSON
	if _, err := d.call(context.Background(), "POST", "/v1/sandboxes/"+id+"/exec", map[string]any{"cmd": cmd, "timeout_s": 300}, &res); err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	return res
}

func needImages(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots guests")
	}
	if os.Geteuid() != 0 {
		t.Skip("image conversion needs root")
	}
}

// TestImageSandboxSeesTheLayers pulls the test image (whiteout, opaque
// dir, symlink, hardlink, setuid binary, a file of uid 1000) plus a
// static busybox, creates a sandbox of it and checks each from inside.
func TestImageSandboxSeesTheLayers(t *testing.T) {
	needImages(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no static busybox on the host")
	}
	reg := ocitest.NewRegistry(t)
	tools := ocitest.Layer(
		ocitest.Entry{Name: "bin/busybox", Mode: 0o755, Body: string(bb)},
		ocitest.Entry{Name: "bin/sh", Type: tar.TypeSymlink, Link: "busybox"},
	)
	ref := reg.Ref("test/layers:v1")
	reg.Push(t, ref, ocitest.Image(t, v1.Config{Env: []string{"PATH=/bin", "GREETING=hi"}, WorkingDir: "/home/user", User: "1000:1000"},
		append(ocitest.Layers(), tools)...))

	d := newVolantd(t)
	d.start()
	t.Cleanup(func() { d.deleteAll(); d.stop() })
	ctx := context.Background()
	var sb sandboxJSON
	if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"image": ref, "network": "none"}, &sb); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		cmd  string
		want string
	}{
		{"test -e /etc/gone || echo gone", "gone"},
		{"test -e /opq/lower || echo hidden", "hidden"},
		{"cat /opq/upper", "upper"},
		{"readlink /bin/link", "hello"},
		{"[ $(stat -c %i /bin/hello) = $(stat -c %i /bin/hard) ] && echo same", "same"},
		{"stat -c %a /bin/suid", "4755"},
		{"stat -c %u:%g /home/user/owned", "1000:1000"},
		{"id -u", "1000"},
		{"pwd", "/home/user"},
		{"echo $GREETING", "hi"},
	}
	for _, c := range checks {
		res := d.exec(t, sb.ID, "/bin/sh", "-c", c.cmd)
		if got := strings.TrimSpace(res.Stdout); got != c.want || res.ExitCode != 0 {
			t.Errorf("%s: got %q (exit %d, stderr %q), want %q", c.cmd, got, res.ExitCode, res.Stderr, c.want)
		}
	}
	// The image is in use: its delete is refused.
	if code, err := d.call(ctx, "DELETE", "/v1/images/"+strings.ReplaceAll(ref, "/", "%2F"), nil, nil); code != 409 {
		t.Errorf("delete of an image in use: %d %v, want 409", code, err)
	}
}

// TestDebianImageSandbox runs what an agent needs in the built-in image.
func TestDebianImageSandbox(t *testing.T) {
	needImages(t)
	ctx := context.Background()
	st, err := oci.Open(oci.Config{Dir: filepath.Join(testguest.CacheDir(), "images")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := debian.Build(ctx, st, debian.Options{CacheDir: filepath.Join(os.TempDir(), "volant-test-cache", "debian")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("debian image ready in %s", time.Since(start).Round(time.Second))
	d := newVolantd(t)
	d.start()
	t.Cleanup(func() { d.deleteAll(); d.stop() })
	var sb sandboxJSON
	if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"image": "debian", "network": "none", "memory_mib": 512}, &sb); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cmd, want string }{
		{"python3 -c 'import sys; print(sys.version)'", "3.11"},
		{"pip --version", "pip "},
		{"git --version", "git version"},
		{"python3 -m venv /tmp/v && /tmp/v/bin/python -c 'print(42)'", "42"},
	} {
		res := d.exec(t, sb.ID, "/bin/sh", "-c", c.cmd)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", c.cmd, res.ExitCode, res.Stdout, res.Stderr, c.want)
		}
	}
}
