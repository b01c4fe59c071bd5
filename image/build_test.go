package image

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/image/kernel"
)

// TestBuild builds the image from the real Debian kernel package twice in
// two directories (the bytes must match), then once more in the first
// (it must come from the cache), and checks what is inside.
func TestBuild(t *testing.T) {
	deb, init := kernelDeb(t), testInit(t)
	var logs bytes.Buffer
	opts := Options{KestrelPath: init, KernelDeb: deb, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := context.Background()

	a, b := opts, opts
	a.Dir, b.Dir = t.TempDir(), t.TempDir()
	imgA, err := Build(ctx, a)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	imgB, err := Build(ctx, b)
	if err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if imgA.Digest != imgB.Digest {
		t.Errorf("digests differ: %s and %s", imgA.Digest, imgB.Digest)
	}
	if diff := cmp.Diff(imgA.Manifest, imgB.Manifest); diff != "" {
		t.Errorf("manifests differ (-a +b):\n%s", diff)
	}
	for _, name := range []string{ManifestName, VmlinuxName, BzImageName, initramfsBase} {
		fa, _ := os.ReadFile(filepath.Join(imgA.Dir, name))
		fb, _ := os.ReadFile(filepath.Join(imgB.Dir, name))
		if len(fa) == 0 || !bytes.Equal(fa, fb) {
			t.Errorf("%s: %d and %d bytes, not identical", name, len(fa), len(fb))
		}
	}

	// Cached: no rebuild, same image.
	builds := strings.Count(logs.String(), "building guest image")
	again, err := Build(ctx, a)
	if err != nil {
		t.Fatalf("cached Build: %v", err)
	}
	if n := strings.Count(logs.String(), "building guest image"); n != builds {
		t.Errorf("cached Build rebuilt the image")
	}
	if diff := cmp.Diff(imgA, again); diff != "" {
		t.Errorf("cached image differs (-first +cached):\n%s", diff)
	}
	cur, err := Current(a.Dir)
	if err != nil || cur.Digest != imgA.Digest {
		t.Errorf("Current = %v, %v; want digest %s", cur, err, imgA.Digest)
	}

	m := imgA.Manifest
	if m.Kernel.Release == "" || !strings.HasPrefix(m.Kernel.Package, "linux-image-") || m.Kernel.Version == "" {
		t.Errorf("manifest kernel = %+v", m.Kernel)
	}
	if !strings.HasPrefix(m.Busybox.Version, "v1.") || len(m.Kestrel.SHA256) != 64 {
		t.Errorf("manifest busybox = %+v, kestrel = %+v", m.Busybox, m.Kestrel)
	}
	vmlinux, err := os.ReadFile(imgA.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kernel.PVHEntry(vmlinux); err != nil {
		t.Errorf("vmlinux: %v", err)
	}

	files := readArchive(t, imgA.Initramfs)
	for _, name := range []string{"init", "bin/sh", "bin/busybox", "dev/console", "dev/null", "etc/os-release", "tmp", "home/sandbox"} {
		if files[name] == nil {
			t.Errorf("initramfs lacks %s", name)
		}
	}
	list := files[strings.TrimPrefix(ModulesListPath, "/")]
	if list == nil {
		t.Fatalf("initramfs lacks %s", ModulesListPath)
	}
	if diff := cmp.Diff(strings.Join(m.Modules, "\n")+"\n", string(list.Data)); diff != "" {
		t.Errorf("%s differs from the manifest (-manifest +file):\n%s", ModulesListPath, diff)
	}
	for _, p := range m.Modules {
		if files[strings.TrimPrefix(p, "/")] == nil {
			t.Errorf("module %s is listed but not in the initramfs", p)
		}
	}
	for _, want := range []string{"virtio_console.ko", "virtio_net.ko", "vmw_vsock_virtio_transport.ko", "overlay.ko", "virtio_mmio.ko"} {
		if !strings.Contains(string(list.Data), "/"+want+"\n") {
			t.Errorf("module list lacks %s", want)
		}
	}
}

func TestBuildRefusesDynamicBusybox(t *testing.T) {
	_, err := Build(context.Background(), Options{Dir: t.TempDir(), KestrelPath: "/bin/busybox", BusyboxPath: "/bin/ls"})
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("Build with a dynamic busybox = %v, want an ErrInvalidArgument saying it is dynamically linked", err)
	}
}
