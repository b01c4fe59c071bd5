package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
	"github.com/volant-sh/volant/sandbox"
	"github.com/volant-sh/volant/sandbox/sandboxtest"
)

// osCGI answers with the ID of the root filesystem it runs in: the test
// image's is "volanttest"; the default guest has none.
const osCGI = `#!/bin/sh
. /etc/os-release
echo "Content-Type: application/json"
echo
printf '{"id":"%s","hello":"%s"}\n' "$ID" "$(cat /srv/work/hello)"
`

// imagePlugin is a plugin runtime whose workload (busybox httpd) and
// files live in the root filesystem root.
func imagePlugin(t testing.TB, root *plugins.RootRuntime) *plugins.Runtime {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return &plugins.Runtime{
		Plugin: "app", Version: "1", Digest: "app-1", Root: root,
		Files: []plugins.File{
			{HostPath: write("healthz", "ok\n"), GuestPath: "/www/healthz", Mode: 0o644},
			{HostPath: write("os", osCGI), GuestPath: "/www/cgi-bin/os", Mode: 0o755},
		},
		Workload: &plugins.Workload{Command: []string{"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"},
			Port: 8080, Health: "/healthz", ReadyTimeoutS: 60},
		Actions: []plugins.Action{{Name: "os", Method: "GET", Path: "/cgi-bin/os"}},
	}
}

// askOS runs the plugin's action and returns what the workload saw.
func askOS(t *testing.T, m *sandbox.Manager, id string) (osID, hello string) {
	t.Helper()
	out, err := m.Action(context.Background(), id, "app", "os", json.RawMessage(`{}`))
	if err != nil {
		t.Fatalf("action os in %s: %v", id, err)
	}
	var got struct{ ID, Hello string }
	if err := json.Unmarshal(out.Body, &got); err != nil {
		t.Fatalf("answer %s: %v", out.Body, err)
	}
	return got.ID, got.Hello
}

// TestPluginOnImage: a plugin whose rootfs is an image runs its workload
// and keeps its files in that root (an action is answered from inside
// it), its template is keyed by the image, and the second create
// restores from it.
func TestPluginOnImage(t *testing.T) {
	imgPath, digest := buildTestImage(t)
	pinned := "volant.test/app@" + digest
	images := &testImages{imgs: map[string]sandbox.ImageRootFS{"t": {
		Ref: pinned, Digest: digest, Path: imgPath, Env: []string{"PATH=/bin"},
	}}}
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{
		"app": imagePlugin(t, &plugins.RootRuntime{Kind: plugins.RootFSOCI, Ref: pinned}),
	}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins, c.Images, c.Templates = fp, images, true })
	m := env.Manager
	ctx := context.Background()

	if _, err := m.Create(ctx, sandbox.Spec{Runtime: "app", Image: pinned}); !errors.Is(err, errdefs.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "runs in its own root filesystem") {
		t.Fatalf("create of a rootfs plugin with an image: %v, want invalid", err)
	}

	first, err := m.Create(ctx, sandbox.Spec{Runtime: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Boot != "cold" || first.ImageDigest != digest {
		t.Fatalf("first create: boot %q, image %q; want cold in %s", first.Boot, first.ImageDigest, digest)
	}
	if id, hello := askOS(t, m, first.ID); id != "volanttest" || hello != "hello from the image" {
		t.Fatalf("the workload runs in a root with ID %q and hello %q, want the image's", id, hello)
	}
	// The files went into the image's root, beside the image's own.
	if got := execOut(t, m, first.ID, "cat", "/www/healthz", "/srv/work/hello"); got != "ok\nhello from the image" {
		t.Fatalf("files in the root: %q", got)
	}

	tpl := imageTemplate(t, m, digest)
	var runtime string
	snaps, _ := m.ListSnapshots(ctx)
	for _, s := range snaps {
		if s.ID == tpl {
			runtime = s.Runtime
		}
	}
	if runtime != "app" {
		t.Fatalf("the image's template %s is of runtime %q, want app", tpl, runtime)
	}
	second, err := m.Create(ctx, sandbox.Spec{Runtime: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Boot != "restore" {
		t.Fatalf("second create booted %q, want restore from the plugin's template", second.Boot)
	}
	if id, _ := askOS(t, m, second.ID); id != "volanttest" {
		t.Fatalf("restored workload runs in root %q", id)
	}
}

// TestPluginOnRootFSFile: a plugin whose rootfs is an ext4 file the
// registry keeps runs in it without any image store.
func TestPluginOnRootFSFile(t *testing.T) {
	imgPath, digest := buildTestImage(t)
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{
		"app": imagePlugin(t, &plugins.RootRuntime{Kind: plugins.RootFSFile, Path: imgPath, Digest: digest}),
	}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins = fp })
	ctx := context.Background()
	sb, err := env.Manager.Create(ctx, sandbox.Spec{Runtime: "app", ColdBoot: true})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := askOS(t, env.Manager, sb.ID); id != "volanttest" {
		t.Fatalf("the workload runs in root %q, want the rootfs file's", id)
	}
}

// A stop ends the plugin's workload first, so what it writes when told to
// end (a browser its cookies) is in the root the sandbox keeps, also when
// the sandbox was restored from the plugin's template: its root layer is
// then copied out while the VM is paused, and the VM is not shut down
// gracefully, so without that the workload never hears of the stop.
func TestPluginWorkloadEndsBeforeStop(t *testing.T) {
	imgPath, digest := buildTestImage(t)
	pinned := "volant.test/app@" + digest
	images := &testImages{imgs: map[string]sandbox.ImageRootFS{"t": {
		Ref: pinned, Digest: digest, Path: imgPath, Env: []string{"PATH=/bin"},
	}}}
	rt := imagePlugin(t, &plugins.RootRuntime{Kind: plugins.RootFSOCI, Ref: pinned})
	rt.Workload.Command = []string{"/bin/busybox", "sh", "-c",
		`trap 'echo written-at-stop > /srv/at-stop; sync; exit 0' TERM; /bin/busybox httpd -p 127.0.0.1:8080 -h /www; while :; do /bin/busybox sleep 1 & wait $!; done`}
	fp := &fakePlugins{runtimes: map[string]*plugins.Runtime{"app": rt}}
	env := sandboxtest.New(t, func(c *sandbox.Config) { c.Plugins, c.Images, c.Templates = fp, images, true })
	m := env.Manager
	ctx := context.Background()
	if _, err := m.Create(ctx, sandbox.Spec{Runtime: "app"}); err != nil {
		t.Fatal(err)
	}
	imageTemplate(t, m, digest)
	sb, err := m.Create(ctx, sandbox.Spec{Runtime: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Boot != "restore" {
		t.Fatalf("second create booted %q, want restore from the plugin's template", sb.Boot)
	}
	if _, err := m.Stop(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got := execOut(t, m, sb.ID, "cat", "/srv/at-stop"); got != "written-at-stop" {
		t.Fatalf("after stop and start /srv/at-stop reads %q; want what the workload wrote when it was told to end", got)
	}
}
