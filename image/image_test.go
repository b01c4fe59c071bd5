package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/volant-sh/volant/errdefs"
)

func TestLoadAndCurrentNotFound(t *testing.T) {
	root := t.TempDir()
	digest := strings.Repeat("ab", 32)
	dir := filepath.Join(root, digest)
	os.MkdirAll(dir, 0o755)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifest := `{"digest":"` + digest + `","kernel":{"release":"r"},"files":[` +
		`{"name":"vmlinux","size":3},{"name":"initramfs.cpio","size":2}]}`

	tests := []struct {
		name  string
		setup func()
		ok    bool
	}{
		{"empty dir", func() {}, false},
		{"damaged manifest", func() { write(ManifestName, "{") }, false},
		{"missing file", func() { write(ManifestName, manifest); write(VmlinuxName, "abc") }, false},
		{"wrong size", func() { write(initramfsBase, "abc") }, false},
		{"intact", func() { write(initramfsBase, "ab") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			img, err := Load(dir)
			if !tt.ok {
				if !errors.Is(err, errdefs.ErrNotFound) {
					t.Fatalf("Load = %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if img.Kernel != filepath.Join(dir, VmlinuxName) || img.Initramfs != filepath.Join(dir, initramfsBase) || img.KernelRelease != "r" {
				t.Errorf("Load = %+v", img)
			}
		})
	}

	if _, err := Current(root); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Current without a current image = %v, want ErrNotFound", err)
	}
	if err := setCurrent(root, digest); err != nil {
		t.Fatal(err)
	}
	img, err := Current(root)
	if err != nil || img.Digest != digest {
		t.Errorf("Current = %+v, %v; want digest %s", img, err, digest)
	}
	os.WriteFile(filepath.Join(root, currentName), []byte("../../etc\n"), 0o644)
	if _, err := Current(root); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Current with a bad pointer = %v, want ErrNotFound", err)
	}
}
