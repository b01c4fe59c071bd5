package oci

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/oci/ocitest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("conversion keeps owners and makes device nodes: it needs root")
	}
}

func newStore(t *testing.T, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{Dir: t.TempDir()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testConfig = v1.Config{Env: []string{"PATH=/bin", "GREETING=hi"}, WorkingDir: "/home/user", User: "1000:1000",
	Entrypoint: []string{"/bin/hello"}, Cmd: []string{"--loud"}}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// assertEmpty checks that a failed pull left nothing: no blob, record,
// root filesystem or temporary file.
func assertEmpty(t *testing.T, s *Store) {
	t.Helper()
	var left []string
	filepath.WalkDir(s.cfg.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, strings.TrimPrefix(p, s.cfg.Dir))
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("the failed pull left %v in the store", left)
	}
	if imgs, _ := s.List(context.Background()); len(imgs) > 0 {
		t.Errorf("the failed pull left %d images listed", len(imgs))
	}
}

func TestPullConvertAndReuse(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	reg := ocitest.NewRegistry(t)
	layers := ocitest.Layers()
	img := ocitest.Image(t, testConfig, layers...)
	ref := reg.Ref("test/app:v1")
	reg.Push(t, ref, img)
	s := newStore(t, nil)

	var phases []string
	got, err := s.Pull(ctx, ref, PullOptions{Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := digestOf(t, img); got.Digest != want {
		t.Errorf("digest %s, want %s", got.Digest, want)
	}
	if diff := cmp.Diff([]string{PhaseFetch, PhaseConvert, PhaseMkfs, PhaseDone}, phases); diff != "" {
		t.Errorf("progress phases (-want +got):\n%s", diff)
	}
	wantCfg := ImageConfig{Env: testConfig.Env, WorkingDir: testConfig.WorkingDir, User: testConfig.User,
		Entrypoint: testConfig.Entrypoint, Cmd: testConfig.Cmd}
	if diff := cmp.Diff(wantCfg, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if len(got.Layers) != 2 || got.Size <= 0 || got.RootFSSize <= 0 {
		t.Errorf("layers %d, size %d, rootfs size %d", len(got.Layers), got.Size, got.RootFSSize)
	}
	ocitest.CheckExt4(t, s.RootFSPath(got.Digest))

	// A second pull fetches no blob.
	before := reg.BlobGets()
	if _, err := s.Pull(ctx, ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.BlobGets() - before; n != 0 {
		t.Errorf("the second pull fetched %d blobs, want 0", n)
	}

	// A second image sharing the first layer fetches only its own
	// layer and config.
	extra := ocitest.Layer(ocitest.Entry{Name: "extra", Body: "x"})
	img2 := ocitest.Image(t, v1.Config{Cmd: []string{"sh"}}, layers[0], extra)
	reg.Push(t, reg.Ref("test/other:v1"), img2)
	before = reg.BlobGets()
	if _, err := s.Pull(ctx, reg.Ref("test/other:v1"), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := reg.BlobGets() - before; n != 2 {
		t.Errorf("the pull of an image sharing a layer fetched %d blobs, want 2 (config and the new layer)", n)
	}

	// RootFS finds the image by name, reference and digest.
	for _, q := range []string{ref, got.Digest, got.Digest[7:19]} {
		rf, err := s.RootFS(ctx, q)
		if err != nil {
			t.Fatalf("RootFS(%q): %v", q, err)
		}
		want := &RootFS{Ref: q, Digest: got.Digest, Path: s.RootFSPath(got.Digest), Env: testConfig.Env,
			WorkingDir: testConfig.WorkingDir, User: testConfig.User, Entrypoint: testConfig.Entrypoint, Cmd: testConfig.Cmd}
		if diff := cmp.Diff(want, rf); diff != "" {
			t.Errorf("RootFS(%q) (-want +got):\n%s", q, diff)
		}
	}

	// The records survive a reopen.
	s2, err := Open(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := s2.List(ctx); len(list) != 2 {
		t.Errorf("after reopen: %d images, want 2", len(list))
	}
}

func TestRootFSPullsFirst(t *testing.T) {
	needRoot(t)
	reg := ocitest.NewRegistry(t)
	ref := reg.Ref("test/app:v1")
	reg.Push(t, ref, ocitest.Image(t, testConfig, ocitest.Layers()...))
	s := newStore(t, nil)
	rf, err := s.RootFS(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rf.Path); err != nil {
		t.Errorf("the ext4: %v", err)
	}
	// A built-in name is never pulled.
	if _, err := s.RootFS(context.Background(), "debian"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "volantd image build") {
		t.Errorf("RootFS(debian) without the built-in image: %v", err)
	}
}

func TestPullIndexResolvesAmd64(t *testing.T) {
	needRoot(t)
	reg := ocitest.NewRegistry(t)
	amd := ocitest.Image(t, testConfig, ocitest.Layers()...)
	arm, _ := mutate.ConfigFile(ocitest.Image(t, v1.Config{}, ocitest.Layer(ocitest.Entry{Name: "arm"})), &v1.ConfigFile{OS: "linux", Architecture: "arm64"})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref := reg.Ref("test/multi:v1")
	reg.Push(t, ref, idx)
	idxDigest, _ := idx.Digest()
	s := newStore(t, nil)
	// Pinned to the index's digest.
	got, err := s.Pull(context.Background(), reg.Ref("test/multi@"+idxDigest.String()), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digestOf(t, amd) || got.IndexDigest != idxDigest.String() {
		t.Errorf("got image %s (index %s), want %s (index %s)", got.Digest, got.IndexDigest, digestOf(t, amd), idxDigest)
	}
}

func TestPullRefusals(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, reg *ocitest.Registry) string
		want  string
	}{
		{"corrupt layer", func(t *testing.T, reg *ocitest.Registry) string {
			img := ocitest.Image(t, testConfig, ocitest.Layers()...)
			reg.Push(t, reg.Ref("test/bad:v1"), img)
			ls, _ := img.Layers()
			d, _ := ls[1].Digest()
			reg.Corrupt(d.String())
			return reg.Ref("test/bad:v1")
		}, "does not match its digest"},
		{"wrong pinned digest", func(t *testing.T, reg *ocitest.Registry) string {
			reg.Push(t, reg.Ref("test/app:v1"), ocitest.Image(t, testConfig, ocitest.Layers()...))
			return reg.Ref("test/app@sha256:" + strings.Repeat("0", 64))
		}, "not in its registry"},
		{"dotdot layer", func(t *testing.T, reg *ocitest.Registry) string {
			evil := ocitest.Layer(ocitest.Entry{Name: "../../escape", Body: "x"})
			reg.Push(t, reg.Ref("test/evil:v1"), ocitest.Image(t, testConfig, ocitest.Layers()[0], evil))
			return reg.Ref("test/evil:v1")
		}, "escape the image's root"},
		{"symlink escape", func(t *testing.T, reg *ocitest.Registry) string {
			evil := ocitest.Layer(ocitest.Entry{Name: "up", Type: tar.TypeSymlink, Link: "../.."}, ocitest.Entry{Name: "up/x", Body: "x"})
			reg.Push(t, reg.Ref("test/evil2:v1"), ocitest.Image(t, testConfig, evil))
			return reg.Ref("test/evil2:v1")
		}, "leads out of the image's root"},
		{"missing tag", func(t *testing.T, reg *ocitest.Registry) string {
			return reg.Ref("test/none:v1")
		}, "not in its registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := ocitest.NewRegistry(t)
			ref := tt.setup(t, reg)
			s := newStore(t, nil)
			_, err := s.Pull(context.Background(), ref, PullOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			assertEmpty(t, s)
		})
	}
}

func TestPullCancelledKeepsNothing(t *testing.T) {
	needRoot(t)
	reg := ocitest.NewRegistry(t)
	ref := reg.Ref("test/app:v1")
	reg.Push(t, ref, ocitest.Image(t, testConfig, ocitest.Layers()...))
	s := newStore(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.Pull(ctx, ref, PullOptions{Progress: func(p Progress) {
		if p.Phase == PhaseConvert {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	assertEmpty(t, s)
}

func TestImport(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	allowed := t.TempDir()
	img := ocitest.Image(t, testConfig, ocitest.Layers()...)
	want := digestOf(t, img)

	lp, err := layout.Write(filepath.Join(allowed, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "app:layout"})); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.com/app:saved")
	saved := filepath.Join(allowed, "app.tar")
	if err := tarball.WriteToFile(saved, tag, img); err != nil {
		t.Fatal(err)
	}

	t.Run("layout dir", func(t *testing.T) {
		s := newStore(t, func(c *Config) { c.ImportDirs = []string{allowed} })
		got, err := s.ImportPath(ctx, filepath.Join(allowed, "layout"), ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != want || !cmp.Equal(got.Names, []string{"app:layout"}) {
			t.Errorf("got %s %v, want %s [app:layout]", got.Digest, got.Names, want)
		}
		ocitest.CheckExt4(t, s.RootFSPath(got.Digest))
	})
	t.Run("docker save", func(t *testing.T) {
		s := newStore(t, func(c *Config) { c.ImportDirs = []string{allowed} })
		got, err := s.ImportPath(ctx, saved, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(got.Names, []string{"example.com/app:saved"}) {
			t.Errorf("names %v", got.Names)
		}
		ocitest.CheckExt4(t, s.RootFSPath(got.Digest))
	})
	t.Run("oci archive", func(t *testing.T) {
		archive := filepath.Join(allowed, "layout.tar")
		if out, err := exec.Command("tar", "-C", filepath.Join(allowed, "layout"), "-cf", archive, ".").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
		s := newStore(t, func(c *Config) { c.ImportDirs = []string{allowed} })
		got, err := s.ImportPath(ctx, archive, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != want {
			t.Errorf("digest %s, want %s", got.Digest, want)
		}
	})
	t.Run("upload", func(t *testing.T) {
		s := newStore(t, nil)
		f, err := os.Open(saved)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got, err := s.ImportTarball(ctx, f, ImportOptions{Name: "mine"})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := s.Get(ctx, "mine"); err != nil || g.Digest != got.Digest {
			t.Errorf("Get(mine) = %v, %v", g, err)
		}
	})
	t.Run("outside the import dirs", func(t *testing.T) {
		s := newStore(t, func(c *Config) { c.ImportDirs = []string{t.TempDir()} })
		_, err := s.ImportPath(ctx, saved, ImportOptions{})
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "outside the directories") {
			t.Errorf("got %v", err)
		}
		s = newStore(t, nil)
		if _, err := s.ImportPath(ctx, saved, ImportOptions{}); !strings.Contains(err.Error(), "image_import_dirs") {
			t.Errorf("without import dirs: %v", err)
		}
	})
}

func TestSignatures(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	reg := ocitest.NewRegistry(t)
	key, other := ocitest.NewKey(t), ocitest.NewKey(t)
	img := ocitest.Image(t, testConfig, ocitest.Layers()...)
	d := digestOf(t, img)
	reg.Push(t, reg.Ref("test/signed:v1"), img)
	reg.Sign(t, key, reg.Ref("test/signed"), d, NewSimpleSigning(reg.Ref("test/signed"), d), SimpleSigningMediaType, SignatureAnnotation)
	reg.Push(t, reg.Ref("test/unsigned:v1"), img)
	// A signature whose payload names another digest.
	reg.Push(t, reg.Ref("test/wrongdigest:v1"), img)
	reg.Sign(t, key, reg.Ref("test/wrongdigest"), d, NewSimpleSigning("x", "sha256:"+strings.Repeat("1", 64)), SimpleSigningMediaType, SignatureAnnotation)

	tests := []struct {
		name, ref, key string
		operator       bool
		want           string // "" means it pulls
	}{
		{"good, request key", "test/signed:v1", key.PublicPEM, false, ""},
		{"good, operator key", "test/signed:v1", key.PublicPEM, true, ""},
		{"other key", "test/signed:v1", other.PublicPEM, false, "not by a trusted key"},
		{"unsigned", "test/unsigned:v1", key.PublicPEM, false, "has no signature"},
		{"unsigned, operator key", "test/unsigned:v1", key.PublicPEM, true, "has no signature"},
		{"payload for another digest", "test/wrongdigest:v1", key.PublicPEM, false, "for another digest"},
		{"not a key", "test/signed:v1", "nonsense", false, "not a PEM public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s *Store
			opts := PullOptions{}
			if tt.operator {
				s = newStore(t, func(c *Config) { c.TrustedKeys = []string{tt.key} })
			} else {
				s = newStore(t, nil)
				opts.PublicKey = tt.key
			}
			got, err := s.Pull(ctx, reg.Ref(tt.ref), opts)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(got.SignedBy, "sha256:") {
					t.Errorf("SignedBy %q", got.SignedBy)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("got %v, want an invalid-argument error saying %q", err, tt.want)
			}
			assertEmpty(t, s)
		})
	}
}

func TestDeleteRefusedInUse(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	reg := ocitest.NewRegistry(t)
	layers := ocitest.Layers()
	reg.Push(t, reg.Ref("test/a:v1"), ocitest.Image(t, testConfig, layers...))
	reg.Push(t, reg.Ref("test/b:v1"), ocitest.Image(t, v1.Config{}, layers[0]))
	users := map[string]int{}
	s := newStore(t, func(c *Config) { c.InUse = func(d string) (int, error) { return users[d], nil } })
	a, err := s.Pull(ctx, reg.Ref("test/a:v1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Pull(ctx, reg.Ref("test/b:v1"), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	users[a.Digest] = 2
	if err := s.Delete(ctx, reg.Ref("test/a:v1")); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "used by 2") {
		t.Fatalf("delete in use: %v", err)
	}
	users[a.Digest] = 0
	if err := s.Delete(ctx, a.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.RootFSPath(a.Digest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted image's ext4 is still there: %v", err)
	}
	if !s.blobs.has(b.Layers[0].Digest, -1) {
		t.Errorf("the layer b shares was deleted with a")
	}
	if s.blobs.has(a.Layers[1].Digest, -1) {
		t.Errorf("a's own layer is still stored")
	}
	if _, err := s.Get(ctx, reg.Ref("test/a:v1")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
}
