package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/plugins"
)

func TestRootFSPackagesValidation(t *testing.T) {
	many := make([]any, plugins.MaxImagePackages+1)
	for i := range many {
		many[i] = "pkg" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		name string
		rf   map[string]any
		want string // "" means valid
	}{
		{"plain names", map[string]any{"kind": "image", "name": "debian", "packages": []any{"python3-numpy", "libc6", "g++", "lib32z1", "fonts-dejavu-core"}}, ""},
		{"none", map[string]any{"kind": "image", "name": "debian"}, ""},
		{"upper case", map[string]any{"kind": "image", "name": "debian", "packages": []any{"Python3"}}, `rootfs.packages[0]: "Python3" is not a Debian package name`},
		{"a version", map[string]any{"kind": "image", "name": "debian", "packages": []any{"curl=7.88"}}, `"curl=7.88" is not a Debian package name`},
		{"an option", map[string]any{"kind": "image", "name": "debian", "packages": []any{"--allow-unauthenticated"}}, "is not a Debian package name"},
		{"a space", map[string]any{"kind": "image", "name": "debian", "packages": []any{"curl git"}}, "is not a Debian package name"},
		{"one letter", map[string]any{"kind": "image", "name": "debian", "packages": []any{"a"}}, "is not a Debian package name"},
		{"a comma", map[string]any{"kind": "image", "name": "debian", "packages": []any{"curl,git"}}, "is not a Debian package name"},
		{"twice", map[string]any{"kind": "image", "name": "debian", "packages": []any{"curl", "curl"}}, `rootfs.packages[1]: "curl" is named twice`},
		{"too long", map[string]any{"kind": "image", "name": "debian", "packages": []any{strings.Repeat("a", 101)}}, "is 101 characters"},
		{"too many", map[string]any{"kind": "image", "name": "debian", "packages": many}, "at most 64"},
		{"on an oci image", map[string]any{"kind": "oci", "ref": "r.example/a@sha256:" + strings.Repeat("ab", 32), "packages": []any{"curl"}}, "rootfs.packages: is set but kind \"oci\" does not take it"},
		{"image set by hand", map[string]any{"kind": "image", "name": "debian", "image": "debian-x"}, "rootfs.image: is set by the registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugins.ParseManifest(mustJSON(t, rootManifest("app", tt.rf)))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ParseManifest = %v, want valid", err)
			case tt.want != "" && (!errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("ParseManifest = %v, want invalid with %q", err, tt.want)
			}
		})
	}
}

// fakeBuilder records builds and answers a name derived from the
// packages, or err.
type fakeBuilder struct {
	builds [][]string
	err    error
}

func (f *fakeBuilder) BuildImage(ctx context.Context, base string, packages []string, progress func(string)) (string, error) {
	f.builds = append(f.builds, packages)
	progress("Get:1 http://deb.debian.org/debian bookworm/main python3-numpy")
	if f.err != nil {
		return "", f.err
	}
	return base + "-" + strings.Join(packages, "+"), nil
}

func TestInstallRootFSPackagesBuilds(t *testing.T) {
	e := newEnv(t)
	b := &fakeBuilder{}
	e.builder = b
	e.reopen()
	ctx := context.Background()
	m := rootManifest("py", map[string]any{"kind": "image", "name": "debian", "packages": []any{"python3-numpy"}})
	if _, err := e.install(m); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if diff := cmp.Diff([][]string{{"python3-numpy"}}, b.builds); diff != "" {
		t.Errorf("builds (-want +got):\n%s", diff)
	}
	rt, err := e.reg.Runtime(ctx, "py")
	if err != nil || rt.Root == nil || rt.Root.Ref != "debian-python3-numpy" {
		t.Fatalf("Runtime = %+v, %v; want the built image as its root", rt, err)
	}
	// The built image's name survives a reopen (it is in the stored manifest).
	e.reopen()
	if rt, err := e.reg.Runtime(ctx, "py"); err != nil || rt.Root.Ref != "debian-python3-numpy" {
		t.Fatalf("Runtime after reopen = %+v, %v", rt, err)
	}
	var phases []string
	for _, ev := range e.bus.events {
		if ev.Type == plugins.EventImageProgress {
			phases = append(phases, string(ev.Data))
		}
	}
	if len(phases) < 3 || !strings.Contains(phases[1], "python3-numpy") || !strings.Contains(phases[len(phases)-1], `"phase":"done"`) {
		t.Errorf("progress events = %v, want build lines then done", phases)
	}

	// A failed build refuses the install and records nothing.
	b.err = errdefs.Invalid("a package is not in Debian bookworm: E: Unable to locate package nope")
	m = rootManifest("py2", map[string]any{"kind": "image", "name": "debian", "packages": []any{"nope"}})
	if _, err := e.install(m); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "Unable to locate package nope") {
		t.Fatalf("Install with a failed build = %v", err)
	}
	if _, err := e.reg.Get(ctx, "py2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("py2 is installed after a failed build: %v", err)
	}

	// Without a builder, packages are refused.
	e.builder = nil
	e.reopen()
	m = rootManifest("py3", map[string]any{"kind": "image", "name": "debian", "packages": []any{"curl"}})
	if _, err := e.install(m); !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "builds no images") {
		t.Fatalf("Install without a builder = %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
