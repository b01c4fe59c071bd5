package plugins_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci/convert"
	"github.com/volant-sh/volant/image/oci/ocitest"
	"github.com/volant-sh/volant/plugins"
)

// fakeExt4 is enough of an ext4 file for the registry to tell it from a
// tar: the superblock's magic.
func fakeExt4() string {
	b := make([]byte, 4096)
	b[1024+0x38], b[1024+0x39] = 0x53, 0xEF
	return string(b)
}

// rootManifest is a plugin whose root filesystem is rf.
func rootManifest(name string, rf map[string]any) map[string]any {
	return map[string]any{
		"schema_version": 1, "name": name, "version": "1",
		"rootfs":    rf,
		"artifacts": []any{map[string]any{"path": "/srv/conf", "content": []byte("x=1\n")}},
	}
}

func TestInstallRootFSExt4(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src, sum := e.file("root.ext4", fakeExt4())
	if _, err := e.install(rootManifest("app", map[string]any{"kind": "rootfs", "path": src, "sha256": sum})); err != nil {
		t.Fatalf("Install: %v", err)
	}
	rt, err := e.reg.Runtime(ctx, "app")
	if err != nil {
		t.Fatalf("Runtime: %v", err)
	}
	if rt.Root == nil || rt.Root.Kind != "rootfs" || rt.Root.Digest != "sha256:"+sum || filepath.Base(rt.Root.Path) != sum {
		t.Fatalf("Runtime.Root = %+v, want the ext4 blob %s", rt.Root, sum)
	}
	// The registry opens again with the rootfs verified.
	e.reopen()
	if _, err := e.reg.Runtime(ctx, "app"); err != nil {
		t.Fatalf("Runtime after reopen: %v", err)
	}
	// A changed file breaks the plugin.
	if err := os.WriteFile(rt.Root.Path, []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Runtime(ctx, "app"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Runtime of a changed rootfs = %v, want unavailable", err)
	}
	if err := e.reg.Remove(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if b := e.blobs(); len(b) != 0 {
		t.Errorf("blobs after remove = %v", b)
	}
}

func TestInstallRootFSTar(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("converting a tar keeps owners and needs root")
	}
	if _, err := exec.LookPath(convert.MkfsPath); err != nil {
		t.Skip("needs mkfs.ext4 (apt-get install e2fsprogs)")
	}
	e := newEnv(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi\n"))
		}
	}
	tw.Close()
	src, sum := e.file("root.tar", buf.String())
	if _, err := e.install(rootManifest("app", map[string]any{"kind": "rootfs", "path": src, "sha256": sum})); err != nil {
		t.Fatalf("Install: %v", err)
	}
	rt, err := e.reg.Runtime(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if rt.Root == nil || rt.Root.Digest == "sha256:"+sum {
		t.Fatalf("Runtime.Root = %+v, want the converted ext4, not the tar", rt.Root)
	}
	out, err := ocitest.Debugfs(rt.Root.Path, "cat /bin/app")
	if err != nil || !strings.HasSuffix(out, "\nhi\n") {
		t.Errorf("/bin/app in the ext4 = %q, %v", out, err)
	}
	for _, b := range e.blobs() {
		if b == sum {
			t.Errorf("the tar itself is kept: %v", e.blobs())
		}
	}
}

func TestInstallRootFSRefusals(t *testing.T) {
	e := newEnv(t)
	_, sum := e.file("root.ext4", fakeExt4())
	outside := filepath.Join(t.TempDir(), "root.ext4")
	os.WriteFile(outside, []byte(fakeExt4()), 0o644)
	tests := []struct {
		name string
		rf   map[string]any
		want string
	}{
		{"outside the plugin dirs", map[string]any{"kind": "rootfs", "path": outside, "sha256": sum}, "not a readable regular file under the daemon's plugin directories"},
		{"wrong digest", map[string]any{"kind": "rootfs", "path": "root.ext4", "sha256": strings.Repeat("0", 64)}, "rootfs.sha256: the file root.ext4 does not have the manifest's sha256"},
		{"not ext4 nor tar", map[string]any{"kind": "rootfs", "path": "junk", "sha256": digest("junk junk junk")}, "neither an ext4 file system nor a tar"},
		{"tag only", map[string]any{"kind": "oci", "ref": "python:3.12-slim"}, `rootfs.ref: "python:3.12-slim" names a tag, not a digest`},
	}
	e.file("junk", "junk junk junk")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.install(rootManifest("app", tt.rf))
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Install = %v, want invalid with %q", err, tt.want)
			}
			if b := e.blobs(); len(b) != 0 {
				t.Errorf("blobs left = %v", b)
			}
		})
	}
}

// fakeImages records pulls and fails those it is told to.
type fakeImages struct {
	pulls []string
	keys  [][]string
	err   error
}

func (f *fakeImages) Pull(ctx context.Context, ref string, keys []string) error {
	f.pulls = append(f.pulls, ref)
	f.keys = append(f.keys, keys)
	return f.err
}

func TestInstallRootFSOCIPulls(t *testing.T) {
	e := newEnv(t)
	imgs := &fakeImages{}
	e.images = imgs
	e.reopen()
	key := ocitest.NewKey(t)
	ref := "127.0.0.1:5000/app@sha256:" + strings.Repeat("ab", 32)
	m := rootManifest("app", map[string]any{"kind": "oci", "ref": ref})
	m["artifacts"] = []any{map[string]any{"path": "/srv/conf", "content": []byte("x=1\n"), "signature": key.SignBlob(t, []byte("x=1\n"))}}
	m["public_key"] = key.PublicPEM
	if _, err := e.install(m); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if len(imgs.pulls) != 1 || imgs.pulls[0] != ref || len(imgs.keys[0]) != 1 || imgs.keys[0][0] != key.PublicPEM {
		t.Fatalf("pulls = %v with keys %v, want %s with the manifest's key", imgs.pulls, imgs.keys, ref)
	}
	rt, err := e.reg.Runtime(context.Background(), "app")
	if err != nil || rt.Root == nil || rt.Root.Kind != "oci" || rt.Root.Ref != ref {
		t.Fatalf("Runtime = %+v, %v", rt, err)
	}

	// A pull refused (a bad signature, say) refuses the install.
	imgs.err = errdefs.Invalid("not signed by a trusted key")
	m["name"] = "app2"
	if _, err := e.install(m); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "rootfs.ref: pulling") {
		t.Fatalf("Install with a refused pull = %v", err)
	}
	if _, err := e.reg.Get(context.Background(), "app2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("app2 is installed after a refused pull: %v", err)
	}
}

func TestInstallSignatures(t *testing.T) {
	key, other := ocitest.NewKey(t), ocitest.NewKey(t)
	ext := fakeExt4()
	tests := []struct {
		name     string
		trusted  []string // operator's keys
		manifest string   // manifest's public_key
		artSig   string
		rootSig  string
		want     string // "" for success
	}{
		{"no key, no signature", nil, "", "", "", ""},
		{"manifest key, signed", nil, key.PublicPEM, key.SignBlob(t, []byte("bin")), key.SignBlob(t, []byte(ext)), ""},
		{"manifest key, artifact unsigned", nil, key.PublicPEM, "", key.SignBlob(t, []byte(ext)), "artifacts[0].signature: is missing and a signature is required"},
		{"manifest key, rootfs unsigned", nil, key.PublicPEM, key.SignBlob(t, []byte("bin")), "", "rootfs.signature: is missing"},
		{"manifest key, signed by another", nil, key.PublicPEM, other.SignBlob(t, []byte("bin")), key.SignBlob(t, []byte(ext)), "artifacts[0].signature: is not a valid signature"},
		{"signature of other bytes", nil, key.PublicPEM, key.SignBlob(t, []byte("nib")), key.SignBlob(t, []byte(ext)), "artifacts[0].signature: is not a valid signature"},
		{"operator key, signed", []string{key.PublicPEM}, "", key.SignBlob(t, []byte("bin")), key.SignBlob(t, []byte(ext)), ""},
		{"operator key wins over the manifest's", []string{key.PublicPEM}, other.PublicPEM, other.SignBlob(t, []byte("bin")), other.SignBlob(t, []byte(ext)), "one of the operator's trusted plugin keys"},
		{"operator key, unsigned", []string{key.PublicPEM}, "", "", "", "artifacts[0].signature: is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.trusted = tt.trusted
			e.reopen()
			bin, binSum := e.file("bin", "bin")
			root, rootSum := e.file("root.ext4", ext)
			m := map[string]any{
				"schema_version": 1, "name": "app", "version": "1",
				"artifacts": []any{map[string]any{"path": "/bin/app", "source": bin, "sha256": binSum, "signature": tt.artSig}},
				"rootfs":    map[string]any{"kind": "rootfs", "path": root, "sha256": rootSum, "signature": tt.rootSig},
			}
			if tt.manifest != "" {
				m["public_key"] = tt.manifest
			}
			_, err := e.install(m)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Install: %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Install = %v, want invalid with %q", err, tt.want)
			}
			if b := e.blobs(); len(b) != 0 {
				t.Errorf("blobs left after a refused install = %v", b)
			}
			if _, err := e.reg.Get(context.Background(), "app"); !errors.Is(err, errdefs.ErrNotFound) {
				t.Errorf("plugin recorded after a refused install: %v", err)
			}
		})
	}
}

var _ plugins.Images = (*fakeImages)(nil)
