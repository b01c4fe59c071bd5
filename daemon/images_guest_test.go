// The in-guest checks of OCI images: sandboxes created from an image
// pulled from a registry served in the test, and from the built-in debian
// image.

package daemon_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

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

// debianChecks are what an agent needs of the built-in image, with what
// their output holds; every surface runs them.
var debianChecks = []struct{ cmd, want string }{
	{"python3 -c 'import sys; print(sys.version)'", "3.11"},
	{"pip --version", "pip "},
	{"git --version", "git version"},
}

// debianDaemon builds the debian image (cached) and starts a daemon that
// has it, with env added to the daemon's environment.
func debianDaemon(t *testing.T, env ...string) *volantd {
	t.Helper()
	needImages(t)
	st, err := oci.Open(oci.Config{Dir: filepath.Join(testguest.CacheDir(), "images")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := debian.Build(context.Background(), st, debian.Options{CacheDir: filepath.Join(os.TempDir(), "volant-test-cache", "debian")}); err != nil {
		t.Fatal(err)
	}
	t.Logf("debian image ready in %s", time.Since(start).Round(time.Second))
	d := newVolantd(t)
	d.env = append(d.env, env...)
	d.start()
	t.Cleanup(func() { d.deleteAll(); d.stop() })
	return d
}

// TestDebianImageSandbox runs what an agent needs in the built-in image,
// over REST.
func TestDebianImageSandbox(t *testing.T) {
	d := debianDaemon(t)
	ctx := context.Background()
	var sb sandboxJSON
	if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"image": "debian", "network": "none", "memory_mib": 512}, &sb); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(debianChecks, struct{ cmd, want string }{"python3 -m venv /tmp/v && /tmp/v/bin/python -c 'print(42)'", "42"}) {
		res := d.exec(t, sb.ID, "/bin/sh", "-c", c.cmd)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, c.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", c.cmd, res.ExitCode, res.Stdout, res.Stderr, c.want)
		}
	}
}

// TestDebianImageOverMCP: sandbox_create with image debian, then
// sandbox_exec of each check.
func TestDebianImageOverMCP(t *testing.T) {
	d := debianDaemon(t)
	ctx := context.Background()
	hc := &http.Client{Transport: bearer{token: d.token}}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "e2e"}, nil).Connect(ctx,
		&sdk.StreamableClientTransport{Endpoint: "http://" + d.addr + "/mcp", HTTPClient: hc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	call := func(tool string, args map[string]any, out any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if res.IsError {
			t.Fatalf("%s answered an error: %s", tool, res.Content[0].(*sdk.TextContent).Text)
		}
		b, err := json.Marshal(res.StructuredContent)
		if err == nil {
			err = json.Unmarshal(b, out)
		}
		if err != nil {
			t.Fatalf("%s answered %v: %v", tool, res.StructuredContent, err)
		}
	}
	var sb sandboxJSON
	call("sandbox_create", map[string]any{"image": "debian", "network": "none", "memory_mib": 512}, &sb)
	for _, c := range debianChecks {
		var res execJSON
		call("sandbox_exec", map[string]any{"sandbox_id": sb.ID, "cmd": []string{"/bin/sh", "-c", c.cmd}, "timeout_s": 300}, &res)
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, c.want) {
			t.Errorf("%s over MCP: exit %d, stdout %q, stderr %q; want %q", c.cmd, res.ExitCode, res.Stdout, res.Stderr, c.want)
		}
	}
}

// TestDebianImageOverVolar: volar sandbox create --image debian, then
// volar exec of each check.
func TestDebianImageOverVolar(t *testing.T) {
	d := debianDaemon(t)
	id := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "create", "-q", "--image", "debian", "--network", "none", "--memory", "512"))
	for _, c := range debianChecks {
		out := volar(t, d, 0, "", "exec", id, "--timeout", "300s", "--", "/bin/sh", "-c", c.cmd)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s over volar printed %q; want %q", c.cmd, out, c.want)
		}
	}
}
