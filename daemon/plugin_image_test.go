package daemon_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/volant-sh/volant/image/oci"
	"github.com/volant-sh/volant/image/oci/ocitest"
)

// rootCGI answers with the ID of the root filesystem it runs in.
const rootCGI = `#!/bin/sh
. /etc/os-release
echo "Content-Type: application/json"
echo
printf '{"id":"%s"}\n' "$ID"
`

// pluginImage is a busybox image whose os-release says ID=volantplugin,
// with a marker making its digest its own.
func pluginImage(t *testing.T, bb []byte) v1.Image {
	t.Helper()
	marker := make([]byte, 8)
	_, _ = rand.Read(marker)
	return ocitest.Image(t, v1.Config{Env: []string{"PATH=/bin"}}, ocitest.Layer(
		ocitest.Entry{Name: "bin/busybox", Mode: 0o755, Body: string(bb)},
		ocitest.Entry{Name: "bin/sh", Type: tar.TypeSymlink, Link: "busybox"},
		ocitest.Entry{Name: "bin/cat", Type: tar.TypeSymlink, Link: "busybox"},
		ocitest.Entry{Name: "etc/os-release", Mode: 0o644, Body: "ID=volantplugin\n"},
		ocitest.Entry{Name: "etc/marker", Mode: 0o644, Body: hex.EncodeToString(marker)},
		ocitest.Entry{Name: "tmp/", Type: tar.TypeDir, Mode: 0o1777},
	))
}

// TestPluginOnSignedOCIImage installs, over REST, a plugin whose rootfs
// is an OCI image pinned by digest and signed in its registry, with
// signed artifacts; its action is answered by the workload inside the
// image. The same plugin on an unsigned image is refused and leaves
// neither plugin nor image.
func TestPluginOnSignedOCIImage(t *testing.T) {
	needImages(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skip("no static busybox on the host")
	}
	reg := ocitest.NewRegistry(t)
	key := ocitest.NewKey(t)
	signed, unsigned := pluginImage(t, bb), pluginImage(t, bb)
	repo := reg.Ref("test/plugin")
	reg.Push(t, repo+":v1", signed)
	reg.Push(t, reg.Ref("test/plugin-unsigned:v1"), unsigned)
	sd, _ := signed.Digest()
	ud, _ := unsigned.Digest()
	reg.Sign(t, key, repo, sd.String(), oci.NewSimpleSigning(repo, sd.String()), oci.SimpleSigningMediaType, oci.SignatureAnnotation)

	manifest := func(name, ref string) map[string]any {
		return map[string]any{
			"schema_version": 1, "name": name, "version": "1",
			"public_key": key.PublicPEM,
			"rootfs":     map[string]any{"kind": "oci", "ref": ref},
			"artifacts": []any{
				map[string]any{"path": "/www/healthz", "content": []byte("ok\n"), "signature": key.SignBlob(t, []byte("ok\n"))},
				map[string]any{"path": "/www/cgi-bin/os", "content": []byte(rootCGI), "mode": "0755", "signature": key.SignBlob(t, []byte(rootCGI))},
			},
			"workload": map[string]any{"command": []string{"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www"},
				"port": 8080, "health": "/healthz", "ready_timeout_s": 120},
			"actions": []any{map[string]any{"name": "os", "method": "GET", "path": "/cgi-bin/os"}},
		}
	}

	d := newVolantd(t)
	d.start()
	ctx := context.Background()
	if _, err := d.call(ctx, "POST", "/v1/plugins", manifest("app", repo+"@"+sd.String()), nil); err != nil {
		t.Fatalf("install of the signed plugin: %v", err)
	}
	var sb sandboxJSON
	if _, err := d.call(ctx, "POST", "/v1/sandboxes", map[string]any{"runtime": "app", "network": "none"}, &sb); err != nil {
		t.Fatal(err)
	}
	var got struct{ ID string }
	if _, err := d.call(ctx, "POST", "/v1/sandboxes/"+sb.ID+"/actions/app/os", map[string]any{}, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "volantplugin" {
		t.Fatalf("the workload runs in a root with ID %q, want the image's", got.ID)
	}
	if res := d.exec(t, sb.ID, "cat", "/etc/marker", "/www/healthz"); res.ExitCode != 0 || !strings.HasSuffix(res.Stdout, "ok\n") {
		t.Fatalf("the image's and the plugin's files in the root: %+v", res)
	}

	code, err := d.call(ctx, "POST", "/v1/plugins", manifest("app2", reg.Ref("test/plugin-unsigned")+"@"+ud.String()), nil)
	if code != 400 || err == nil || !strings.Contains(err.Error(), "has no signature") {
		t.Fatalf("install on an unsigned image: %d %v, want 400 saying it has no signature", code, err)
	}
	if code, _ := d.call(ctx, "GET", "/v1/plugins/app2", nil, nil); code != 404 {
		t.Errorf("plugin app2 after a refused install: %d, want 404", code)
	}
	if code, _ := d.call(ctx, "GET", "/v1/images/"+ud.String(), nil, nil); code != 404 {
		t.Errorf("the unsigned image after a refused install: %d, want 404", code)
	}
	var raw json.RawMessage
	if _, err := d.call(ctx, "GET", "/v1/plugins/app", nil, &raw); err != nil || !strings.Contains(string(raw), `"kind":"oci"`) {
		t.Errorf("plugin app: %s %v", raw, err)
	}
}

// TestPluginOnDebianImage installs examples/plugins/pyinfo with volar: a
// Python workload in the built-in debian image (rootfs of kind image),
// whose action answers from inside that root.
func TestPluginOnDebianImage(t *testing.T) {
	manifest, err := filepath.Abs("../examples/plugins/pyinfo/plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	d := debianDaemon(t, "VOLANT_PLUGIN_DIRS="+filepath.Dir(manifest))
	volar(t, d, 0, "", "plugin", "install", manifest)
	id := strings.TrimSpace(volar(t, d, 0, "", "sandbox", "create", "-q", "--runtime", "pyinfo", "--network", "none"))
	out := volar(t, d, 0, "", "action", id, "pyinfo", "info")
	var info struct{ Python, Executable, OS string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("volar action printed %q: %v", out, err)
	}
	if !strings.HasPrefix(info.Python, "3.11") || !strings.Contains(info.OS, "Debian") {
		t.Fatalf("the workload runs Python %q on %q, want debian's python3", info.Python, info.OS)
	}
}
