package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/volant-sh/volant/errdefs"
)

func TestConcretePackage(t *testing.T) {
	tests := []struct {
		name, show, pkg, version string
	}{
		{"bookworm", "Package: linux-image-cloud-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\n",
			"linux-image-6.1.0-56-cloud-amd64", "6.1.192-2"},
		{"several deps", "Depends: foo (>= 1), linux-image-6.12.9-cloud-amd64 (= 6.12.9-1), bar\n",
			"linux-image-6.12.9-cloud-amd64", "6.12.9-1"},
		{"none", "Package: linux-image-cloud-amd64\n", "", ""},
		{"unversioned", "Depends: linux-image-6.1.0-56-cloud-amd64\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkg, version, err := concretePackage(tt.show)
			if tt.pkg == "" {
				if err == nil {
					t.Errorf("concretePackage = %q %q, want an error", pkg, version)
				}
				return
			}
			if err != nil || pkg != tt.pkg || version != tt.version {
				t.Errorf("concretePackage = %q, %q, %v; want %q, %q", pkg, version, err, tt.pkg, tt.version)
			}
		})
	}
}

// offline makes apt unreachable for the test.
func offline(t *testing.T) {
	old := aptCacheCmd
	aptCacheCmd = filepath.Join(t.TempDir(), "no-apt-cache")
	t.Cleanup(func() { aptCacheCmd = old })
}

func TestResolveOfflineReusesNewest(t *testing.T) {
	offline(t)
	dir := t.TempDir()
	now := time.Now()
	for i, name := range []string{
		"linux-image-6.1.0-50-cloud-amd64_6.1.176-1_amd64.deb",
		"linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
		"unrelated_1_amd64.deb",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("deb"), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	got, err := resolveKernelDeb(context.Background(), dir, discard())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb"); got != want {
		t.Errorf("resolveKernelDeb = %s, want %s", got, want)
	}
}

func TestResolveOfflineEmpty(t *testing.T) {
	offline(t)
	dir := t.TempDir()
	_, err := resolveKernelDeb(context.Background(), dir, discard())
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("resolveKernelDeb = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no linux-image") {
		t.Errorf("error %q does not say that %s has no kernel package", err, dir)
	}
}
